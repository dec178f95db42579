// The tokenizer.json "normalizer": Sequence, Prepend, Append, Replace, Strip and NFC (nfc.h).
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "tokenizer/pattern.h"

namespace flotilla::tokenizer {

class Normalizer {
 public:
  // `normalizer` may be null (no normalization). Nested Sequences are flattened.
  static Normalizer from_json(const nlohmann::json& normalizer, const std::string& path);

  std::string apply(std::string text) const;
  bool empty() const { return steps_.empty(); }

 private:
  enum class Kind { Prepend, Append, Replace, Strip, Nfc };
  struct Step {
    Kind kind;
    std::string content;  // Prepend/Append text, Replace content
    std::vector<Pattern> pattern;  // Replace: exactly one
    bool left = false, right = false;  // Strip
  };
  void add(const nlohmann::json& normalizer, const std::string& path);
  std::vector<Step> steps_;
};

}  // namespace flotilla::tokenizer
