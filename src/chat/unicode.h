// UTF-8 helpers giving the template interpreter Python's code-point view of strings.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace flotilla::chat {

// Decodes UTF-8; an invalid byte decodes to U+FFFD so that lengths stay defined.
std::u32string decode_utf8(std::string_view text);
void append_utf8(std::string& out, char32_t code_point);
std::string encode_utf8(std::u32string_view text);

bool is_ascii(std::string_view text);
size_t count_code_points(std::string_view text);

// Python's str.isspace() set, also what `\s` matches in the jinja lexer.
bool is_space(char32_t c);
// Letters and digits in ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic; other non-ASCII
// code points count as letters so that `\w`-style word splitting keeps them inside words.
bool is_alpha(char32_t c);
bool is_digit(char32_t c);
bool is_upper(char32_t c);
bool is_lower(char32_t c);

// Case mapping for the same ranges as is_alpha; other code points map to themselves.
char32_t to_upper(char32_t c);
char32_t to_lower(char32_t c);
std::string upper(std::string_view text);  // ß becomes "SS" as in Python
std::string lower(std::string_view text);

// Python str.splitlines(keepends).
std::vector<std::string> split_lines(std::string_view text, bool keep_ends);

}  // namespace flotilla::chat
