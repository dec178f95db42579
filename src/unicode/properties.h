// Character properties: Unicode's White_Space, Python's str.isspace set, and letters, digits and
// case from utf8proc's Unicode data (what Python's str methods test, one code point at a time).
#pragma once

namespace flotilla::unicode {

// The Unicode White_Space property (what Rust's char::is_whitespace tests).
bool is_white_space(char32_t c);
// Python's str.isspace(): White_Space plus the information separators U+001C..U+001F.
bool is_python_space(char32_t c);
bool is_alpha(char32_t c);  // letters: general categories Lu, Ll, Lt, Lm, Lo
bool is_decimal_digit(char32_t c);  // Nd
bool is_upper(char32_t c);
bool is_lower(char32_t c);
// Simple (one code point) case mappings; unchanged where there is none.
char32_t to_upper(char32_t c);
char32_t to_lower(char32_t c);

}  // namespace flotilla::unicode
