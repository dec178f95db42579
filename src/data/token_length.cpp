#include "data/token_length.h"

#include <filesystem>
#include <fstream>

#include "chat/chat_template.h"

namespace flotilla::data {

namespace {

// What ChatTemplate::from_model_dir looks for; without either the model has no template.
bool has_chat_template(const std::filesystem::path& dir) {
  if (std::filesystem::exists(dir / "chat_template.jinja")) return true;
  std::ifstream config(dir / "tokenizer_config.json");
  if (!config) return false;
  const auto json = nlohmann::json::parse(config, /*cb=*/nullptr, /*allow_exceptions=*/false);
  return json.is_object() && json.contains("chat_template");
}

}  // namespace

ConversationRenderer conversation_renderer(const std::string& model_dir) {
  if (!has_chat_template(model_dir)) return {};
  auto chat = std::make_shared<const ChatTemplate>(ChatTemplate::from_model_dir(model_dir));
  return [chat](const nlohmann::ordered_json& messages, bool add_generation_prompt, const nlohmann::ordered_json& tools) {
    auto extra = nlohmann::ordered_json::object();
    if (!tools.is_null()) extra["tools"] = tools;
    return chat->render(messages, add_generation_prompt, extra);
  };
}

TokenLength::TokenLength(const std::string& model_dir)
    : tokenizer_(std::make_unique<const Tokenizer>(Tokenizer::from_dir(model_dir))),
      examples_(*tokenizer_, conversation_renderer(model_dir)) {}

size_t TokenLength::operator()(const nlohmann::ordered_json& record) const { return examples_(record).tokens.size(); }

}  // namespace flotilla::data
