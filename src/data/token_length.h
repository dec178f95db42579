// Length in tokens of a prepared record, as training will see it, for prepare's --max-seq-length.
#pragma once
#include <nlohmann/json.hpp>

#include <string>

#include "tokenizer/tokenizer.h"

namespace flotilla::data {

// The text a record becomes before tokenization. messages and prompt-completion records go through
// render_messages (prompt-completion as a user and an assistant turn, as mlx-lm does); text is as is.
std::string render_for_length(const nlohmann::ordered_json& record);

// The one place that turns a conversation into text. Chat templates (src/chat) are not wired in
// yet, so this is the plain fallback: "role: content\n" per message.
std::string render_messages(const nlohmann::ordered_json& messages);

class TokenLength {
 public:
  explicit TokenLength(const std::string& model_dir);  // reads model_dir/tokenizer.json
  // Tokens of render_for_length(record), with the tokenizer's special tokens (BOS) added, plus the
  // EOS that mlx-lm appends to text records.
  size_t operator()(const nlohmann::ordered_json& record) const;

 private:
  Tokenizer tokenizer_;
};

}  // namespace flotilla::data
