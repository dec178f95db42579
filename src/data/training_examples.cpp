#include "data/training_examples.h"

#include <algorithm>
#include <memory>
#include <optional>

#include "flotilla/chat_template.h"
#include "core/error.h"

namespace flotilla::data {

namespace {

nlohmann::ordered_json as_messages(const nlohmann::ordered_json& record) {
  if (record.contains("messages")) return record.at("messages");
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  messages.push_back({{"role", "user"}, {"content", record.at("prompt")}});
  messages.push_back({{"role", "assistant"}, {"content", record.at("completion")}});
  return messages;
}

void append_eos(std::vector<int64_t>& tokens, const Tokenizer& tokenizer) {
  const auto eos = tokenizer.eos_ids();
  if (!eos.empty() && (tokens.empty() || tokens.back() != eos.front())) tokens.push_back(eos.front());
}

}  // namespace

ConversationRenderer conversation_renderer(const std::string& model_dir, const std::string& template_override) {
  auto found = ChatTemplate::find_in_model_dir(model_dir, template_override);
  if (!found) return {};
  auto chat = std::make_shared<const ChatTemplate>(std::move(*found));
  return [chat](const nlohmann::ordered_json& messages, bool add_generation_prompt, const nlohmann::ordered_json& tools) {
    auto extra = nlohmann::ordered_json::object();
    if (!tools.is_null()) extra["tools"] = tools;
    return chat->render(messages, add_generation_prompt, extra);
  };
}

std::string render_plain(const nlohmann::ordered_json& messages, bool add_generation_prompt) {
  std::string text;
  for (const auto& m : messages) {
    const auto& content = m.value("content", nlohmann::ordered_json());
    text += m.value("role", std::string()) + ": " + (content.is_string() ? content.get<std::string>() : "") + "\n";
  }
  return add_generation_prompt ? text + "assistant: " : text;
}

ExampleTokenizer::ExampleTokenizer(const Tokenizer& tokenizer, ConversationRenderer renderer)
    : tokenizer_(tokenizer), renderer_(std::move(renderer)) {}

std::vector<int64_t> ExampleTokenizer::encode_conversation(const nlohmann::ordered_json& messages,
                                                           bool add_generation_prompt,
                                                           const nlohmann::ordered_json& tools) const {
  // A chat template writes its own BOS; the plain rendering relies on the tokenizer's.
  if (renderer_) return tokenizer_.encode(renderer_(messages, add_generation_prompt, tools), /*add_special_tokens=*/false);
  return tokenizer_.encode(render_plain(messages, add_generation_prompt), /*add_special_tokens=*/true);
}

TokenizedExample ExampleTokenizer::operator()(const nlohmann::ordered_json& record, bool with_prompt_length) const {
  TokenizedExample example;
  if (record.contains("text")) {
    example.tokens = tokenizer_.encode(record.at("text").get<std::string>(), /*add_special_tokens=*/true);
    append_eos(example.tokens, tokenizer_);
    return example;
  }
  const auto messages = as_messages(record);
  const auto tools = record.value("tools", nlohmann::ordered_json());
  example.tokens = encode_conversation(messages, false, tools);
  if (!renderer_) append_eos(example.tokens, tokenizer_);
  if (!with_prompt_length) return example;
  auto head = messages;
  head.erase(head.size() - 1);
  // The prompt's tokens can differ from the full text's at the boundary ("assistant: " vs
  // "assistant: Four"): count only the shared prefix as prompt, so no completion token is masked.
  const auto prompt = encode_conversation(head, true, tools);
  const auto shared = std::mismatch(prompt.begin(), prompt.end(), example.tokens.begin(), example.tokens.end());
  example.prompt_length = static_cast<int64_t>(shared.first - prompt.begin());
  return example;
}

std::vector<TokenizedExample> tokenize_split(const DatasetSplit& split, const ExampleTokenizer& tokenize,
                                             bool with_prompt_length) {
  std::vector<TokenizedExample> examples;
  examples.reserve(split.size());
  for (size_t i = 0; i < split.records.size(); ++i) {
    try {
      examples.push_back(tokenize(split.records[i], with_prompt_length));
    } catch (const Error& e) {
      fail("data", "'{}': record {}: {}", split.path, i + 1, e.what());
    }
  }
  return examples;
}

}  // namespace flotilla::data
