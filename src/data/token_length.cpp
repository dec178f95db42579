#include "data/token_length.h"

namespace flotilla::data {

TokenLength::TokenLength(const std::string& model_dir)
    : tokenizer_(std::make_unique<const Tokenizer>(Tokenizer::from_dir(model_dir))),
      examples_(*tokenizer_, conversation_renderer(model_dir)) {}

size_t TokenLength::operator()(const nlohmann::ordered_json& record) const {
  return examples_(record, /*with_prompt_length=*/false).tokens.size();
}

}  // namespace flotilla::data
