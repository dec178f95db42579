#include "data/token_length.h"



namespace flotilla::data {

namespace {

// What ChatTemplate::from_model_dir looks for; without either the model has no template.
}  // namespace

TokenLength::TokenLength(const std::string& model_dir)
    : tokenizer_(std::make_unique<const Tokenizer>(Tokenizer::from_dir(model_dir))),
      examples_(*tokenizer_, conversation_renderer(model_dir)) {}

size_t TokenLength::operator()(const nlohmann::ordered_json& record) const { return examples_(record).tokens.size(); }

}  // namespace flotilla::data
