// The "pattern" of Replace and Split components: {"String": literal} or {"Regex": PCRE-style regex}.
#pragma once
#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/regex.h"

namespace flotilla::tokenizer {

class Pattern {
 public:
  static Pattern from_json(const nlohmann::json& pattern, const std::string& path);
  static Pattern literal(std::string text);

  // Non-overlapping, non-empty matches left to right, as byte spans.
  std::vector<Regex::Span> find_all(std::string_view text) const;

  // Every match replaced by `content`.
  std::string replace_all(std::string_view text, std::string_view content) const;

 private:
  std::string literal_;
  std::shared_ptr<const Regex> regex_;  // set for {"Regex": ...}
};

}  // namespace flotilla::tokenizer
