// GPT-2's reversible byte <-> printable character map (openai/gpt-2 encoder.py bytes_to_unicode):
// printable Latin-1 bytes map to themselves, the other 68 bytes to U+0100 onwards in byte order.
#pragma once
#include <string>
#include <string_view>

namespace flotilla::tokenizer::byte_level {

// The character (UTF-8) standing for `byte`.
const std::string& char_of(unsigned char byte);

// Every byte of `text` replaced by its character.
std::string encode(std::string_view text);

// Appends the bytes a byte-level token stands for; a token holding any character outside the
// map is appended verbatim (what Hugging Face's ByteLevel decoder does for added tokens).
void decode_append(std::string_view token, std::string& out);

// GPT-2's pre-tokenization regex, used by ByteLevel when "use_regex" is true.
inline constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

}  // namespace flotilla::tokenizer::byte_level
