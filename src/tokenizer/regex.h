// PCRE2 in UTF mode with Unicode properties (PCRE2_UTF | PCRE2_UCP), the stand-in for the
// Oniguruma regexes of Hugging Face tokenizers: \p{L}, \p{N}, \s and (?i:...) behave alike.
#pragma once
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace flotilla::tokenizer {

class Regex {
 public:
  using Span = std::pair<size_t, size_t>;  // byte offsets [begin, end)

  // Throws Error("[tokenizer] ...") naming `where` (a JSON path) when the pattern does not compile.
  Regex(const std::string& pattern, const std::string& where);

  // Leftmost match starting at or after `offset`. Text must be valid UTF-8 (not re-checked).
  std::optional<Span> find(std::string_view text, size_t offset = 0) const;

  // Non-overlapping matches left to right; empty matches are skipped.
  std::vector<Span> find_all(std::string_view text) const;

  const std::string& pattern() const { return pattern_; }

 private:
  struct Code;
  std::string pattern_;
  std::shared_ptr<const Code> code_;
};

}  // namespace flotilla::tokenizer
