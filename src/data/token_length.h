// Length in tokens of a prepared record exactly as training will see it (training_examples.h),
// for prepare's --max-seq-length.
#pragma once
#include <nlohmann/json.hpp>

#include <memory>
#include <string>

#include "data/training_examples.h"
#include "flotilla/tokenizer.h"

namespace flotilla::data {

class TokenLength {
 public:
  explicit TokenLength(const std::string& model_dir);  // reads model_dir/tokenizer.json
  size_t operator()(const nlohmann::ordered_json& record) const;

 private:
  std::unique_ptr<const Tokenizer> tokenizer_;  // ExampleTokenizer keeps a reference: it must not move
  ExampleTokenizer examples_;
};

}  // namespace flotilla::data
