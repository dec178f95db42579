#include "unicode/utf8.h"

namespace flotilla::unicode {

namespace {

// What Unicode Table 3-7 allows after a lead byte: the sequence length (0: not a lead byte) and
// the range of the second byte (narrowed against overlongs, surrogates and past U+10FFFF).
struct LeadByte {
  size_t length = 0;
  unsigned char second_min = 0x80, second_max = 0xBF;
};

LeadByte lead_byte(unsigned char lead) {
  LeadByte l;
  if (lead >= 0xC2 && lead <= 0xDF) {
    l.length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    l.length = 3;
    if (lead == 0xE0) l.second_min = 0xA0;  // overlong
    if (lead == 0xED) l.second_max = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    l.length = 4;
    if (lead == 0xF0) l.second_min = 0x90;  // overlong
    if (lead == 0xF4) l.second_max = 0x8F;  // beyond U+10FFFF
  }
  return l;
}

// How many bytes after the lead at text[pos] continue its sequence as Table 3-7 allows.
size_t continuation_bytes(std::string_view text, size_t pos, const LeadByte& l) {
  size_t taken = 1;
  for (; taken < l.length && pos + taken < text.size(); ++taken) {
    const auto byte = static_cast<unsigned char>(text[pos + taken]);
    if (byte < (taken == 1 ? l.second_min : 0x80) || byte > (taken == 1 ? l.second_max : 0xBF)) break;
  }
  return taken - 1;
}

// Bytes of the longest prefix of a well-formed sequence at text[pos] (at least 1): one U+FFFD each.
size_t maximal_subpart(std::string_view text, size_t pos) {
  const LeadByte l = lead_byte(static_cast<unsigned char>(text[pos]));
  return l.length == 0 ? 1 : 1 + continuation_bytes(text, pos, l);
}

}  // namespace

size_t valid_length(std::string_view text, size_t pos) {
  const auto lead = static_cast<unsigned char>(text[pos]);
  if (lead < 0x80) return 1;
  const LeadByte l = lead_byte(lead);
  return l.length != 0 && 1 + continuation_bytes(text, pos, l) == l.length ? l.length : 0;
}

bool is_valid(std::string_view text) {
  for (size_t pos = 0; pos < text.size();) {
    const size_t length = valid_length(text, pos);
    if (length == 0) return false;
    pos += length;
  }
  return true;
}

std::string sanitize(std::string_view text) {
  if (is_valid(text)) return std::string(text);
  std::string out;
  out.reserve(text.size() + 16);
  for (size_t pos = 0; pos < text.size();) {
    const size_t length = valid_length(text, pos);
    if (length > 0) {
      out.append(text.substr(pos, length));
      pos += length;
    } else {
      out.append(kReplacement);
      pos += maximal_subpart(text, pos);
    }
  }
  return out;
}

char32_t next(std::string_view text, size_t& pos) {
  const auto byte = [&](size_t i) { return static_cast<char32_t>(static_cast<unsigned char>(text[pos + i])); };
  const size_t length = char_length(text, pos);
  char32_t code_point = 0;
  switch (length) {
    case 1: code_point = byte(0); break;
    case 2: code_point = ((byte(0) & 0x1F) << 6) | (byte(1) & 0x3F); break;
    case 3: code_point = ((byte(0) & 0x0F) << 12) | ((byte(1) & 0x3F) << 6) | (byte(2) & 0x3F); break;
    default:
      code_point = ((byte(0) & 0x07) << 18) | ((byte(1) & 0x3F) << 12) | ((byte(2) & 0x3F) << 6) | (byte(3) & 0x3F);
  }
  pos += length;
  return code_point;
}

void append(std::string& out, char32_t code_point) {
  if (code_point < 0x80) {
    out += static_cast<char>(code_point);
  } else if (code_point < 0x800) {
    out += static_cast<char>(0xC0 | (code_point >> 6));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else if (code_point < 0x10000) {
    out += static_cast<char>(0xE0 | (code_point >> 12));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code_point >> 18));
    out += static_cast<char>(0x80 | ((code_point >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  }
}

size_t count_chars(std::string_view text) {
  size_t count = 0;
  for (const char c : text) count += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return count;
}

size_t leading_whitespace_length(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t next_pos = pos;
    if (!is_white_space(next(text, next_pos))) break;
    pos = next_pos;
  }
  return pos;
}

size_t trailing_whitespace_start(std::string_view text) {
  size_t end = text.size();
  while (end > 0) {
    size_t begin = end - 1;
    while (begin > 0 && (static_cast<unsigned char>(text[begin]) & 0xC0) == 0x80) --begin;
    size_t pos = begin;
    if (!is_white_space(next(text, pos))) break;
    end = begin;
  }
  return end;
}

size_t count_code_points(std::string_view text) {
  if (is_valid(text)) return count_chars(text);
  return decode(text).size();
}

std::u32string decode(std::string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    if (valid_length(text, pos) > 0) {
      out.push_back(next(text, pos));
    } else {
      out.push_back(0xFFFD);
      pos += maximal_subpart(text, pos);
    }
  }
  return out;
}

std::string encode(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char32_t c : text) append(out, c);
  return out;
}

bool is_ascii(std::string_view text) {
  for (const char c : text) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

}  // namespace flotilla::unicode
