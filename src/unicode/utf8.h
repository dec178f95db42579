// UTF-8 for the whole project: validation (Unicode Table 3-7: no overlongs, surrogates or code
// points past U+10FFFF), U+FFFD for each maximal ill-formed subpart, iteration, decoding, encoding.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

#include "unicode/properties.h"

namespace flotilla::unicode {

inline constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the well-formed sequence starting at text[pos] (Unicode Table 3-7), or 0 if it is not one.
size_t valid_length(std::string_view text, size_t pos);

bool is_valid(std::string_view text);

// Replaces each maximal ill-formed subpart with U+FFFD, as Rust's String::from_utf8_lossy and
// Python's bytes.decode(errors="replace") do.
std::string sanitize(std::string_view text);

// Length of the character starting at text[pos] in text already known to be valid.
inline size_t char_length(std::string_view text, size_t pos) {
  const auto lead = static_cast<unsigned char>(text[pos]);
  return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

// Decodes the character at text[pos] (valid text) and advances pos past it.
char32_t next(std::string_view text, size_t& pos);

void append(std::string& out, char32_t code_point);


// Bytes of the Unicode whitespace run that starts `text`.
size_t leading_whitespace_length(std::string_view text);
// Where the Unicode whitespace run that ends `text` starts (text.size() when there is none).
size_t trailing_whitespace_start(std::string_view text);

// Number of characters in valid text.
size_t count_chars(std::string_view text);
// Code points of any bytes, each maximal ill-formed subpart counting as one U+FFFD.
size_t count_code_points(std::string_view text);

// Code points of any bytes, each maximal ill-formed subpart decoded as one U+FFFD (as sanitize).
std::u32string decode(std::string_view text);
std::string encode(std::u32string_view text);
bool is_ascii(std::string_view text);

}  // namespace flotilla::unicode
