// Records of a dataset split -> token sequences for training, as mlx-lm builds them: conversations
// through the model's chat template (prompt length = the rendering without the last turn, with the
// generation prompt), text records encoded with EOS appended.
#pragma once
#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/tokenized_example.h"
#include "flotilla/tokenizer.h"

namespace flotilla::data {

// Renders messages (with "tools" in extra when present) as the model's chat template would.
using ConversationRenderer =
    std::function<std::string(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                              const nlohmann::ordered_json& tools)>;

// The model's chat template as a renderer (tools passed as the template's `tools`), or an empty
// one when the model has none. A non-empty template_override (Jinja source) replaces the model's
// template; bos_token/eos_token still come from the model folder's tokenizer_config.json.
ConversationRenderer conversation_renderer(const std::string& model_dir, const std::string& template_override = "");

// Without a chat template: "role: content\n" per message and "assistant: " as generation prompt.
std::string render_plain(const nlohmann::ordered_json& messages, bool add_generation_prompt);

class ExampleTokenizer {
 public:
  // renderer may be empty: then render_plain is used and BOS/EOS come from the tokenizer.
  ExampleTokenizer(const Tokenizer& tokenizer, ConversationRenderer renderer);
  // with_prompt_length=false skips encoding the prompt again (needed only for mask_prompt).
  TokenizedExample operator()(const nlohmann::ordered_json& record, bool with_prompt_length = true) const;
  // A prompt for generation: the conversation so far plus the assistant's generation prompt.
  std::vector<int64_t> encode_prompt(const nlohmann::ordered_json& messages) const {
    return encode_conversation(messages, true, nullptr);
  }

 private:
  std::vector<int64_t> encode_conversation(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                                           const nlohmann::ordered_json& tools) const;
  const Tokenizer& tokenizer_;
  ConversationRenderer renderer_;
};

std::vector<TokenizedExample> tokenize_split(const DatasetSplit& split, const ExampleTokenizer& tokenize,
                                             bool with_prompt_length);

}  // namespace flotilla::data
