// Mirrors jinja2/lexer.py (3.1): the root/comment/raw/tag states, OptionalLStrip and the
// bracket balancing that lets `}}` inside a dict literal close the literal, not the tag.
#include "chat/lexer.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "unicode/properties.h"
#include "unicode/utf8.h"
#include "core/error.h"

namespace flotilla::chat {

void syntax_error(const std::string& template_name, SourcePos pos, const std::string& message) {
  fail("chat_template", "{}:{}:{}: {}", template_name, pos.line, pos.column, message);
}

namespace {

bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || is_ascii_digit(c); }

// Splits on \r\n, \r and \n, joins with \n and drops one trailing newline, as jinja's tokeniter.
std::string normalize_newlines(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out.push_back(source[i]);
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

class Lexer {
 public:
  Lexer(std::string_view source, const std::string& name) : src_(normalize_newlines(source)), name_(name) {
    line_starts_.push_back(0);
    for (size_t i = 0; i < src_.size(); ++i) {
      if (src_[i] == '\n') line_starts_.push_back(i + 1);
    }
  }

  std::vector<Token> run() {
    while (pos_ < src_.size()) lex_root();
    Token end;
    end.type = TokenType::End;
    end.pos = position(src_.size());
    tokens_.push_back(end);
    return std::move(tokens_);
  }

 private:
  // Tokens come in source order: the column is counted on from the previous position, not from
  // the line start (quadratic on a long one-line template). Counts add up at any byte that is no
  // continuation byte, even in invalid UTF-8: no character or ill-formed run extends past one.
  SourcePos position(size_t offset) const {
    auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
    size_t from = *(it - 1);
    size_t column = 0;
    if (last_offset_ >= from && last_offset_ <= offset && last_offset_ < src_.size() &&
        (static_cast<unsigned char>(src_[last_offset_]) & 0xC0) != 0x80) {
      from = last_offset_;
      column = last_column_;
    }
    column += unicode::count_code_points(std::string_view(src_).substr(from, offset - from));
    last_offset_ = offset;
    last_column_ = column;
    return {static_cast<int>(it - line_starts_.begin()), static_cast<int>(column) + 1};
  }

  [[noreturn]] void error_at(size_t offset, const std::string& message) const {
    syntax_error(name_, position(offset), message);
  }

  // Byte length of the Unicode whitespace character at `i`, 0 if there is none.
  size_t space_at(size_t i) const {
    if (i >= src_.size()) return 0;
    auto c = static_cast<unsigned char>(src_[i]);
    if (c < 0x80) return unicode::is_python_space(c) ? 1 : 0;
    size_t len = (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
    std::u32string decoded = unicode::decode(std::string_view(src_).substr(i, len));
    return decoded.size() == 1 && unicode::is_python_space(decoded[0]) ? len : 0;
  }

  size_t skip_spaces(size_t i) const {
    while (size_t len = space_at(i)) i += len;
    return i;
  }

  bool starts_with(size_t i, std::string_view text) const { return src_.compare(i, text.size(), text) == 0; }

  void emit(TokenType type, size_t offset, std::string text = {}) {
    Token token;
    token.type = type;
    token.text = std::move(text);
    token.pos = position(offset);
    tokens_.push_back(std::move(token));
  }

  // OptionalLStrip: `-` strips all whitespace before a tag; otherwise lstrip_blocks removes
  // the indentation of a block or comment tag that starts its line.
  std::string strip_before_tag(std::string text, char sign, bool is_variable) const {
    if (sign == '-') {
      std::u32string chars = unicode::decode(text);
      size_t end = chars.size();
      while (end > 0 && unicode::is_python_space(chars[end - 1])) --end;
      return unicode::encode(std::u32string_view(chars).substr(0, end));
    }
    if (sign == '+' || is_variable) return text;
    size_t line_begin = text.rfind('\n');
    line_begin = line_begin == std::string::npos ? 0 : line_begin + 1;
    if (line_begin == 0 && !line_starting_) return text;
    std::u32string tail = unicode::decode(std::string_view(text).substr(line_begin));
    bool all_space = !tail.empty() && std::all_of(tail.begin(), tail.end(), unicode::is_python_space);
    return all_space ? text.substr(0, line_begin) : text;
  }

  void emit_data(size_t offset, std::string text) {
    if (!text.empty()) emit(TokenType::Data, offset, std::move(text));
  }

  // `{%(-|+|)\s*raw\s*(-%}\s*|%})` at `i`; returns the end offset or npos.
  size_t match_raw_begin(size_t i, char* sign) const {
    size_t j = i + 2;
    *sign = (j < src_.size() && (src_[j] == '-' || src_[j] == '+')) ? src_[j++] : 0;
    j = skip_spaces(j);
    if (!starts_with(j, "raw")) return std::string::npos;
    j = skip_spaces(j + 3);
    if (starts_with(j, "-%}")) return skip_spaces(j + 3);
    if (starts_with(j, "%}")) return j + 2;
    return std::string::npos;
  }

  // The end of a block (`%}` with trim_blocks) or comment (`#}`) tag at `i`, or npos.
  size_t match_tag_end(size_t i, char closer) const {
    std::string end = {closer, '}'};
    if (starts_with(i, "+" + end)) return i + 3;
    if (starts_with(i, "-" + end)) return skip_spaces(i + 3);
    if (starts_with(i, end)) return i + 2 + (i + 2 < src_.size() && src_[i + 2] == '\n' ? 1 : 0);
    return std::string::npos;
  }

  void finish_match(size_t end) {
    line_starting_ = end > 0 && src_[end - 1] == '\n';
    pos_ = end;
  }

  void lex_root() {
    size_t tag = pos_;
    while (true) {
      tag = src_.find('{', tag);
      if (tag == std::string::npos || tag + 1 >= src_.size()) {
        emit_data(pos_, src_.substr(pos_));
        pos_ = src_.size();
        return;
      }
      char kind = src_[tag + 1];
      if (kind == '{' || kind == '%' || kind == '#') break;
      ++tag;
    }
    char kind = src_[tag + 1];
    std::string text = src_.substr(pos_, tag - pos_);
    char sign = 0;
    if (kind == '%') {
      size_t raw_end = match_raw_begin(tag, &sign);
      if (raw_end != std::string::npos) {
        emit_data(pos_, strip_before_tag(std::move(text), sign, false));
        finish_match(raw_end);
        lex_raw();
        return;
      }
    }
    size_t after = tag + 2;
    sign = (after < src_.size() && (src_[after] == '-' || src_[after] == '+')) ? src_[after] : 0;
    emit_data(pos_, strip_before_tag(std::move(text), sign, kind == '{'));
    finish_match(after + (sign ? 1 : 0));
    if (kind == '#') {
      lex_comment(tag);
    } else {
      emit(kind == '%' ? TokenType::BlockBegin : TokenType::VariableBegin, tag);
      lex_tag(kind == '%');
    }
  }

  void lex_comment(size_t begin) {
    for (size_t i = pos_; i < src_.size(); ++i) {
      size_t end = match_tag_end(i, '#');
      if (end != std::string::npos) {
        finish_match(end);
        return;
      }
    }
    error_at(begin, "missing end of comment tag");
  }

  void lex_raw() {
    for (size_t i = pos_; i < src_.size(); ++i) {
      if (!starts_with(i, "{%")) continue;
      size_t j = i + 2;
      char sign = (j < src_.size() && (src_[j] == '-' || src_[j] == '+')) ? src_[j++] : 0;
      j = skip_spaces(j);
      if (!starts_with(j, "endraw")) continue;
      size_t end = match_tag_end(skip_spaces(j + 6), '%');
      if (end == std::string::npos) continue;
      emit_data(pos_, strip_before_tag(src_.substr(pos_, i - pos_), sign, false));
      finish_match(end);
      return;
    }
    error_at(pos_, "missing end of raw directive");
  }

  void lex_tag(bool is_block) {
    std::vector<char> balance;
    while (pos_ < src_.size()) {
      if (balance.empty()) {
        size_t end = is_block                   ? match_tag_end(pos_, '%')
                     : starts_with(pos_, "-}}") ? skip_spaces(pos_ + 3)
                     : starts_with(pos_, "}}")  ? pos_ + 2
                                                : std::string::npos;
        if (end != std::string::npos) {
          emit(is_block ? TokenType::BlockEnd : TokenType::VariableEnd, pos_);
          finish_match(end);
          return;
        }
      }
      if (space_at(pos_)) {
        finish_match(skip_spaces(pos_));
      } else if (!lex_number() && !lex_name() && !lex_string() && !lex_operator(balance)) {
        error_at(pos_, fmt::format("unexpected char '{}'", src_.substr(pos_, 1)));
      }
    }
  }

  // `(\d+_)*\d+` at `i`: returns its end or npos.
  size_t digit_run(size_t i) const {
    if (i >= src_.size() || !is_ascii_digit(src_[i])) return std::string::npos;
    while (true) {
      while (i < src_.size() && is_ascii_digit(src_[i])) ++i;
      if (i + 1 < src_.size() && src_[i] == '_' && is_ascii_digit(src_[i + 1])) {
        ++i;
        continue;
      }
      return i;
    }
  }

  size_t exponent_run(size_t i) const {
    if (i >= src_.size() || (src_[i] != 'e' && src_[i] != 'E')) return std::string::npos;
    ++i;
    if (i < src_.size() && (src_[i] == '+' || src_[i] == '-')) ++i;
    return digit_run(i);
  }

  bool lex_number() {
    size_t int_end = digit_run(pos_);
    if (int_end == std::string::npos) return false;
    size_t float_end = std::string::npos;
    if (pos_ == 0 || src_[pos_ - 1] != '.') {
      size_t fraction_end = src_[int_end] == '.' ? digit_run(int_end + 1) : std::string::npos;
      size_t exponent_end = exponent_run(fraction_end != std::string::npos ? fraction_end : int_end);
      float_end = exponent_end != std::string::npos ? exponent_end : fraction_end;
    }
    if (float_end != std::string::npos) {
      std::string text = src_.substr(pos_, float_end - pos_);
      text.erase(std::remove(text.begin(), text.end(), '_'), text.end());
      Token token;
      token.type = TokenType::Float;
      std::from_chars(text.data(), text.data() + text.size(), token.real);
      token.pos = position(pos_);
      tokens_.push_back(token);
      finish_match(float_end);
      return true;
    }
    return lex_integer();
  }

  bool lex_integer() {
    int base = 10;
    size_t i = pos_;
    if (src_[i] == '0' && i + 1 < src_.size()) {
      char prefix = static_cast<char>(src_[i + 1] | 0x20);
      base = prefix == 'b' ? 2 : prefix == 'o' ? 8 : prefix == 'x' ? 16 : 10;
    }
    auto is_base_digit = [&](char c) {
      if (base == 16) return std::isxdigit(static_cast<unsigned char>(c)) != 0;
      return c >= '0' && c < '0' + base;
    };
    std::string digits;
    size_t j = i;
    if (base != 10) {
      j += 2;
      while (true) {
        size_t k = j < src_.size() && src_[j] == '_' ? j + 1 : j;
        if (k >= src_.size() || !is_base_digit(src_[k])) break;
        digits.push_back(src_[k]);
        j = k + 1;
      }
      if (digits.empty()) base = 10;  // "0b" without digits lexes as 0 followed by a name
    }
    if (base == 10) {
      j = digit_run(i);
      if (src_[i] == '0') {  // `0(_?0)*`
        j = i + 1;
        while (j < src_.size() && (src_[j] == '0' || (src_[j] == '_' && j + 1 < src_.size() && src_[j + 1] == '0')))
          ++j;
      }
      digits = src_.substr(i, j - i);
      digits.erase(std::remove(digits.begin(), digits.end(), '_'), digits.end());
    }
    Token token;
    token.type = TokenType::Integer;
    auto result = std::from_chars(digits.data(), digits.data() + digits.size(), token.integer, base);
    if (result.ec != std::errc()) error_at(pos_, "unsupported: integer literal exceeds 64 bits");
    token.pos = position(pos_);
    tokens_.push_back(token);
    finish_match(j);
    return true;
  }

  bool lex_name() {
    if (static_cast<unsigned char>(src_[pos_]) >= 0x80 && !space_at(pos_)) {
      error_at(pos_, "unsupported: non-ASCII identifier");
    }
    if (!is_name_start(src_[pos_])) return false;
    size_t end = pos_;
    while (end < src_.size() && is_name_char(src_[end])) ++end;
    emit(TokenType::Name, pos_, src_.substr(pos_, end - pos_));
    finish_match(end);
    return true;
  }

  bool lex_string() {
    char quote = src_[pos_];
    if (quote != '\'' && quote != '"') return false;
    size_t i = pos_ + 1;
    while (i < src_.size() && src_[i] != quote) i += src_[i] == '\\' ? 2 : 1;
    if (i >= src_.size()) error_at(pos_, "unterminated string literal");
    emit(TokenType::String, pos_, unescape(pos_ + 1, i));
    finish_match(i + 1);
    return true;
  }

  // Python's "unicode-escape" decoding of a string literal body.
  std::string unescape(size_t begin, size_t end) const {
    std::string out;
    for (size_t i = begin; i < end; ++i) {
      if (src_[i] != '\\' || i + 1 >= end) {
        out.push_back(src_[i]);
        continue;
      }
      char c = src_[++i];
      switch (c) {
        case '\n':
          break;
        case '\\':
          out.push_back('\\');
          break;
        case '\'':
          out.push_back('\'');
          break;
        case '"':
          out.push_back('"');
          break;
        case 'a':
          out.push_back('\a');
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'v':
          out.push_back('\v');
          break;
        case 'x':
        case 'u':
        case 'U': {
          size_t width = c == 'x' ? 2 : c == 'u' ? 4 : 8;
          if (i + width >= end) error_at(i - 1, fmt::format("truncated \\{} escape", c));
          uint32_t code_point = 0;
          auto result = std::from_chars(src_.data() + i + 1, src_.data() + i + 1 + width, code_point, 16);
          if (result.ptr != src_.data() + i + 1 + width || code_point > 0x10FFFF) {
            error_at(i - 1, fmt::format("invalid \\{} escape", c));
          }
          unicode::append(out, code_point);
          i += width;
          break;
        }
        case 'N':
          error_at(i - 1, "unsupported: \\N{...} escape");
        default:
          if (c >= '0' && c <= '7') {
            uint32_t code_point = 0;
            size_t digits = 0;
            while (digits < 3 && i < end && src_[i] >= '0' && src_[i] <= '7') {
              code_point = code_point * 8 + (src_[i++] - '0');
              ++digits;
            }
            --i;
            unicode::append(out, code_point);
          } else {
            out.push_back('\\');
            out.push_back(c);
          }
      }
    }
    return out;
  }

  bool lex_operator(std::vector<char>& balance) {
    static const char* kTwoChar[] = {"//", "**", "==", "!=", ">=", "<="};
    for (const char* op : kTwoChar) {
      if (starts_with(pos_, op)) {
        emit(TokenType::Operator, pos_, op);
        finish_match(pos_ + 2);
        return true;
      }
    }
    char c = src_[pos_];
    if (std::string_view("+-/*%~[](){}=.:|,;<>").find(c) == std::string_view::npos) return false;
    if (c == '{' || c == '(' || c == '[') balance.push_back(c == '{' ? '}' : c == '(' ? ')' : ']');
    if (c == '}' || c == ')' || c == ']') {
      if (balance.empty()) error_at(pos_, fmt::format("unexpected '{}'", c));
      if (balance.back() != c) error_at(pos_, fmt::format("unexpected '{}', expected '{}'", c, balance.back()));
      balance.pop_back();
    }
    emit(TokenType::Operator, pos_, std::string(1, c));
    finish_match(pos_ + 1);
    return true;
  }

  std::string src_;
  const std::string& name_;
  std::vector<size_t> line_starts_;
  mutable size_t last_offset_ = 0, last_column_ = 0;  // the latest position() and its 0-based column
  std::vector<Token> tokens_;
  size_t pos_ = 0;
  bool line_starting_ = true;
};

}  // namespace

std::vector<Token> tokenize(std::string_view source, const std::string& template_name) {
  return Lexer(source, template_name).run();
}

}  // namespace flotilla::chat
