#include "config/yaml.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <vector>

#include "config/yaml_scalar.h"
#include "core/error.h"
#include "core/file.h"
#include "unicode/utf8.h"

namespace flotilla {
namespace {

using Json = nlohmann::ordered_json;

constexpr const char* kSubset =
    "Flotilla reads the YAML subset used by config files: block mappings and sequences, flow [...] and {...}, "
    "plain and quoted scalars, comments";

constexpr const char* kUnexpectedIndent =
    "unexpected indentation (only a 'key:' or '-' with nothing after it opens a nested block)";

struct Line {
  int number;        // 1-based line in the source
  size_t indent;     // 0-based column of text[0]
  std::string text;  // from the first non-space character, trailing blanks removed
};

struct Cursor {
  size_t line;  // index into the parser's lines
  size_t pos;   // offset into that line's text
};

bool is_blank(char c) { return c == ' ' || c == '\t'; }
bool is_flow_indicator(char c) { return c != '\0' && std::strchr(",[]{}", c) != nullptr; }
bool is_seq_item(const std::string& text) { return text[0] == '-' && (text.size() == 1 || is_blank(text[1])); }

class Parser {
 public:
  Parser(const std::string& text, std::string source) : source_(std::move(source)) { split_lines(text); }

  Json parse_document() {
    if (lines_.empty()) return nullptr;
    Json doc = parse_block(lines_[0].indent);
    if (next_ < lines_.size())
      fail_at({next_, 0}, "this line does not continue the block above it (check its indentation)");
    return doc;
  }

 private:
  std::string location(Cursor c) const {
    return fmt::format("{}:{}:{}", source_, lines_[c.line].number, lines_[c.line].indent + c.pos + 1);
  }
  [[noreturn]] void fail_at(Cursor c, const std::string& message) const {
    fail("yaml", "{}: {}", location(c), message);
  }
  [[noreturn]] void unsupported(Cursor c, const std::string& what) const {
    fail_at(c, fmt::format("unsupported YAML construct: {} ({})", what, kSubset));
  }

  // Keeps the lines that hold content; rejects invalid UTF-8, tabs in indentation, document markers, directives.
  void split_lines(const std::string& text) {
    for (size_t pos = 0, n; pos < text.size(); pos += n) {
      if ((n = unicode::valid_length(text, pos)) == 0)
        fail("yaml", "{}:{}: invalid UTF-8 (byte {} of the file)", source_,
             1 + std::count(text.begin(), text.begin() + pos, '\n'), pos + 1);
    }
    size_t start = text.rfind("\xEF\xBB\xBF", 0) == 0 ? 3 : 0;
    for (int number = 1; start <= text.size(); ++number) {
      size_t end = text.find('\n', start);
      if (end == std::string::npos) end = text.size();
      std::string raw = text.substr(start, end - start);
      start = end + 1;
      const size_t first = raw.find_first_not_of(" \t\r");
      if (first == std::string::npos || raw[first] == '#') continue;
      const size_t indent = raw.find_first_not_of(' ');
      if (indent != first)
        fail("yaml", "{}:{}:{}: tab character in indentation (YAML indents with spaces only)", source_, number,
             indent + 1);
      raw.erase(raw.find_last_not_of(" \t\r") + 1);
      lines_.push_back({number, indent, raw.substr(indent)});
      const std::string& body = lines_.back().text;
      const bool marker =
          (body.rfind("---", 0) == 0 || body.rfind("...", 0) == 0) && (body.size() == 3 || is_blank(body[3]));
      if (indent == 0 && marker)
        unsupported({lines_.size() - 1, 0}, "document marker '" + body.substr(0, 3) + "' (one document per file)");
      if (indent == 0 && body[0] == '%') unsupported({lines_.size() - 1, 0}, "directive '%'");
    }
  }

  const std::string& text(Cursor c) const { return lines_[c.line].text; }
  char peek(Cursor c, size_t ahead = 0) const { return c.pos + ahead < text(c).size() ? text(c)[c.pos + ahead] : '\0'; }
  void skip_blanks(Cursor& c) const {
    while (is_blank(peek(c))) ++c.pos;
  }
  bool at_comment_or_end(Cursor c) const {
    return peek(c) == '\0' || (peek(c) == '#' && (c.pos == 0 || is_blank(text(c)[c.pos - 1])));
  }
  void finish_line(Cursor c) const {
    skip_blanks(c);
    if (!at_comment_or_end(c)) fail_at(c, fmt::format("unexpected '{}' after the value", text(c).substr(c.pos)));
  }

  // Rejects the indicators of constructs outside the subset where a node starts.
  void check_node_start(Cursor c) const {
    const char ch = peek(c), after = peek(c, 1);
    if (ch == '&') unsupported(c, "anchor '&'");
    if (ch == '*') unsupported(c, "alias '*'");
    if (ch == '!') unsupported(c, "tag '!'");
    if (ch == '|' || ch == '>') unsupported(c, fmt::format("block scalar '{}'", ch));
    if (ch == '?' && (after == '\0' || is_blank(after))) unsupported(c, "complex mapping key '?'");
    if (ch == '@' || ch == '`')
      fail_at(c, fmt::format("'{}' is reserved and cannot start a plain scalar; quote the value", ch));
  }

  // If line li starts with "key:", returns the key and sets after_colon.
  std::optional<std::string> mapping_key(size_t li, size_t& after_colon) const {
    const std::string& t = lines_[li].text;
    Cursor c{li, 0};
    check_node_start(c);
    if (t[0] == '"' || t[0] == '\'') {
      std::string key = parse_quoted(c);
      skip_blanks(c);
      if (peek(c) != ':' || (peek(c, 1) != '\0' && !is_blank(peek(c, 1)))) return std::nullopt;
      after_colon = c.pos + 1;
      return key;
    }
    if (t[0] == '[' || t[0] == '{') return std::nullopt;
    for (size_t i = 0; i < t.size(); ++i) {
      if (t[i] == '#' && i > 0 && is_blank(t[i - 1])) break;
      if (t[i] == ':' && (i + 1 == t.size() || is_blank(t[i + 1]))) {
        if (i == 0) fail_at(c, "empty mapping key");
        after_colon = i + 1;
        return t.substr(0, t.find_last_not_of(" \t", i - 1) + 1);
      }
    }
    return std::nullopt;
  }

  Json parse_block(size_t indent) {
    const size_t li = next_;
    if (is_seq_item(lines_[li].text)) return parse_sequence(indent);
    size_t after_colon = 0;
    if (mapping_key(li, after_colon)) return parse_mapping(indent);
    Cursor c{li, 0};
    Json value = parse_value(c, /*flow=*/false);
    skip_blanks(c);
    if (peek(c) == ':' && (value.is_array() || value.is_object())) unsupported(c, "complex (non-scalar) mapping key");
    finish_line(c);
    next_ = c.line + 1;
    return value;
  }

  Json parse_mapping(size_t indent) {
    Json map = Json::object();
    std::map<std::string, int> key_lines;
    while (next_ < lines_.size() && lines_[next_].indent >= indent) {
      const size_t li = next_;
      if (lines_[li].indent > indent) fail_at({li, 0}, kUnexpectedIndent);
      size_t after_colon = 0;
      auto key = is_seq_item(lines_[li].text) ? std::nullopt : mapping_key(li, after_colon);
      if (!key) fail_at({li, 0}, "expected 'key: value' (this line is inside a mapping)");
      auto [it, inserted] = key_lines.emplace(*key, lines_[li].number);
      if (!inserted) fail_at({li, 0}, fmt::format("duplicate key '{}' (first defined at line {})", *key, it->second));
      Cursor c{li, after_colon};
      skip_blanks(c);
      if (at_comment_or_end(c)) {
        next_ = li + 1;
        map[*key] = child_block(indent, /*same_indent_sequence=*/true);
      } else {
        map[*key] = parse_value(c, /*flow=*/false);
        finish_line(c);
        next_ = c.line + 1;
      }
    }
    return map;
  }

  Json parse_sequence(size_t indent) {
    Json seq = Json::array();
    while (next_ < lines_.size() && lines_[next_].indent >= indent) {
      Line& line = lines_[next_];
      if (line.indent > indent) fail_at({next_, 0}, kUnexpectedIndent);
      if (!is_seq_item(line.text)) break;  // the next key of a mapping at this indent
      const size_t rest = line.text.find_first_not_of(" \t", 1);
      if (rest == std::string::npos || line.text[rest] == '#') {
        ++next_;
        seq.push_back(child_block(indent, /*same_indent_sequence=*/false));
        continue;
      }
      // "- x": x becomes a block starting at its own column, so "- a: 1" continues on lines at that column.
      line.indent += rest;
      line.text.erase(0, rest);
      seq.push_back(parse_block(line.indent));
    }
    return seq;
  }

  // The node under a "key:" or "-" with nothing after it: the more indented lines below, or null.
  Json child_block(size_t indent, bool same_indent_sequence) {
    if (next_ >= lines_.size()) return nullptr;
    const Line& line = lines_[next_];
    if (line.indent > indent || (same_indent_sequence && line.indent == indent && is_seq_item(line.text)))
      return parse_block(line.indent);
    return nullptr;
  }

  Json parse_value(Cursor& c, bool flow) const {
    check_node_start(c);
    if (!flow && peek(c) == '-' && is_blank(peek(c, 1))) fail_at(c, "a block sequence '- ' must start on its own line");
    switch (peek(c)) {
      case '[':
        return parse_flow_sequence(c);
      case '{':
        return parse_flow_mapping(c);
      case '"':
      case '\'':
        return parse_quoted(c);
      default: {
        const Cursor start = c;
        return resolve_plain_scalar(parse_plain(c, flow), location(start));
      }
    }
  }

  // A plain scalar ends at a comment, at ": ", and inside [...] / {...} also at , [ ] { }.
  std::string parse_plain(Cursor& c, bool flow) const {
    const std::string& t = text(c);
    const size_t start = c.pos;
    size_t end = c.pos;
    for (; c.pos < t.size(); ++c.pos) {
      const char ch = t[c.pos], next = peek(c, 1);
      if (ch == '#' && c.pos > start && is_blank(t[c.pos - 1])) break;
      if (ch == ':' && (next == '\0' || is_blank(next) || (flow && is_flow_indicator(next)))) break;
      if (flow && is_flow_indicator(ch)) break;
      if (!is_blank(ch)) end = c.pos + 1;
    }
    c.pos = end;
    if (end == start) fail_at(c, "expected a value");
    return t.substr(start, end - start);
  }

  std::string parse_quoted(Cursor& c) const {
    const std::string& t = text(c);
    const Cursor open = c;
    const char quote = t[c.pos++];
    std::string out;
    while (true) {
      if (c.pos >= t.size()) fail_at(open, "unterminated quoted string (it must close on the same line)");
      const char ch = t[c.pos++];
      if (ch == quote && quote == '\'' && peek(c) == '\'') {
        out += '\'';
        ++c.pos;
      } else if (ch == quote) {
        return out;
      } else if (ch == '\\' && quote == '"') {
        decode_escape(c, out);
      } else {
        out += ch;
      }
    }
  }

  void decode_escape(Cursor& c, std::string& out) const {
    const Cursor at{c.line, c.pos - 1};
    static const std::map<char, const char*> simple = {
        {'0', "\0"}, {'a', "\a"},  {'b', "\b"},     {'t', "\t"},     {'\t', "\t"},    {'n', "\n"},
        {'v', "\v"}, {'f', "\f"},  {'r', "\r"},     {'e', "\x1b"},   {' ', " "},      {'"', "\""},
        {'/', "/"},  {'\\', "\\"}, {'N', "\u0085"}, {'_', "\u00a0"}, {'L', "\u2028"}, {'P', "\u2029"}};
    const char e = peek(c);
    ++c.pos;
    if (auto it = simple.find(e); it != simple.end()) {
      out.append(it->second, e == '0' ? 1 : std::strlen(it->second));
      return;
    }
    const size_t digits = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
    if (digits == 0)
      fail_at(at, e ? fmt::format("unknown escape '\\{}' in a double-quoted string", e)
                    : std::string("line-continuation escapes are not supported"));
    const std::string hex = text(c).substr(c.pos, digits);
    uint32_t cp = 0;
    auto [ptr, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), cp, 16);
    if (hex.size() != digits || ec != std::errc() || ptr != hex.data() + hex.size() || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      fail_at(at,
              fmt::format("bad escape '\\{}{}' (expected {} hex digits of a Unicode scalar value)", e, hex, digits));
    c.pos += digits;
    unicode::append(out, cp);
  }

  // Spaces, comments and line ends inside [...] and {...}, which may span lines.
  void skip_flow_space(Cursor& c, Cursor open) const {
    skip_blanks(c);
    while (at_comment_or_end(c)) {
      if (c.line + 1 >= lines_.size()) fail_at(open, fmt::format("'{}' is never closed", text(open)[open.pos]));
      c = {c.line + 1, 0};
      skip_blanks(c);
    }
  }

  void expect_separator(Cursor& c, char close, Cursor open) const {
    skip_flow_space(c, open);
    if (peek(c) == ',') {
      ++c.pos;
    } else if (peek(c) != close) {
      fail_at(c, fmt::format("expected ',' or '{}' in the collection opened at {}:{}", close, lines_[open.line].number,
                             lines_[open.line].indent + open.pos + 1));
    }
  }

  Json parse_flow_sequence(Cursor& c) const {
    const Cursor open = c;
    ++c.pos;
    Json seq = Json::array();
    for (skip_flow_space(c, open); peek(c) != ']'; skip_flow_space(c, open)) {
      seq.push_back(parse_value(c, /*flow=*/true));
      expect_separator(c, ']', open);
    }
    ++c.pos;
    return seq;
  }

  Json parse_flow_mapping(Cursor& c) const {
    const Cursor open = c;
    ++c.pos;
    Json map = Json::object();
    for (skip_flow_space(c, open); peek(c) != '}'; skip_flow_space(c, open)) {
      const Cursor key_at = c;
      check_node_start(c);
      if (peek(c) == '[' || peek(c) == '{') unsupported(c, "complex (non-scalar) mapping key");
      const std::string key = peek(c) == '"' || peek(c) == '\'' ? parse_quoted(c) : parse_plain(c, /*flow=*/true);
      if (map.contains(key)) fail_at(key_at, fmt::format("duplicate key '{}'", key));
      Json value = nullptr;  // "{a, b: 1}": a key without ':' maps to null
      skip_flow_space(c, open);
      if (peek(c) == ':') {
        ++c.pos;
        skip_flow_space(c, open);
        if (peek(c) != ',' && peek(c) != '}') value = parse_value(c, /*flow=*/true);
      }
      map[key] = std::move(value);
      expect_separator(c, '}', open);
    }
    ++c.pos;
    return map;
  }

  std::string source_;
  std::vector<Line> lines_;
  size_t next_ = 0;  // the first line not yet parsed
};

}  // namespace

nlohmann::ordered_json parse_yaml(const std::string& text, const std::string& source) {
  return Parser(text, source).parse_document();
}

nlohmann::ordered_json load_yaml_file(const std::string& path) {
  return parse_yaml(read_file(path, "yaml"), path);
}

}  // namespace flotilla
