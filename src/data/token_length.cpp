#include "data/token_length.h"

namespace flotilla::data {

std::string render_messages(const nlohmann::ordered_json& messages) {
  std::string text;
  for (const auto& message : messages) {
    const auto& content = message.value("content", nlohmann::ordered_json());
    text += message.value("role", std::string()) + ": " + (content.is_string() ? content.get<std::string>() : "") + "\n";
  }
  return text;
}

std::string render_for_length(const nlohmann::ordered_json& record) {
  if (record.contains("messages")) return render_messages(record["messages"]);
  if (record.contains("prompt")) {
    nlohmann::ordered_json messages = nlohmann::ordered_json::array();
    messages.push_back({{"role", "user"}, {"content", record["prompt"]}});
    messages.push_back({{"role", "assistant"}, {"content", record["completion"]}});
    return render_messages(messages);
  }
  return record.value("text", std::string());
}

TokenLength::TokenLength(const std::string& model_dir) : tokenizer_(Tokenizer::from_dir(model_dir)) {}

size_t TokenLength::operator()(const nlohmann::ordered_json& record) const {
  const auto ids = tokenizer_.encode(render_for_length(record), /*add_special_tokens=*/true);
  // mlx-lm's TextDataset appends EOS to text records that do not end with it.
  const auto eos = tokenizer_.eos_ids();
  const bool add_eos = record.contains("text") && !eos.empty() && (ids.empty() || ids.back() != eos.front());
  return ids.size() + (add_eos ? 1 : 0);
}

}  // namespace flotilla::data
