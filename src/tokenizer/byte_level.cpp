#include "tokenizer/byte_level.h"

#include <array>

#include "unicode/utf8.h"

namespace flotilla::tokenizer::byte_level {

namespace {

struct Tables {
  std::array<std::string, 256> char_of;
  std::array<int, 324> byte_of;  // by code point; every mapped character is below U+0144
  Tables() {
    byte_of.fill(-1);
    int extra = 0;
    for (int byte = 0; byte < 256; ++byte) {
      const bool printable = (byte >= '!' && byte <= '~') || (byte >= 0xA1 && byte <= 0xAC) || byte >= 0xAE;
      const char32_t code_point = printable ? byte : 256 + extra++;
      unicode::append(char_of[byte], code_point);
      byte_of[code_point] = byte;
    }
  }
};

const Tables& tables() {
  static const Tables instance;
  return instance;
}

}  // namespace

const std::string& char_of(unsigned char byte) { return tables().char_of[byte]; }

std::string encode(std::string_view text) {
  const Tables& t = tables();
  std::string out;
  out.reserve(text.size() * 2);
  for (const char c : text) out += t.char_of[static_cast<unsigned char>(c)];
  return out;
}

void decode_append(std::string_view token, std::string& out) {
  const Tables& t = tables();
  const size_t start = out.size();
  for (size_t pos = 0; pos < token.size();) {
    const char32_t code_point = unicode::next(token, pos);
    if (code_point >= t.byte_of.size() || t.byte_of[code_point] < 0) {
      out.resize(start);
      out.append(token);
      return;
    }
    out += static_cast<char>(t.byte_of[code_point]);
  }
}

}  // namespace flotilla::tokenizer::byte_level
