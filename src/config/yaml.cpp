#include "config/yaml.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <sstream>
#include <string_view>
#include <vector>

#include "config/yaml_scalar.h"
#include "core/error.h"
#include "core/file.h"
#include "unicode/utf8.h"

namespace flotilla::config {
namespace {

using Json = nlohmann::ordered_json;

// Aliases share nodes, so a hostile file could expand exponentially; configs are far below these bounds.
constexpr int kMaxDepth = 200;
constexpr size_t kMaxNodes = 100'000;

constexpr std::string_view kCoreTag = "tag:yaml.org,2002:";

// yaml-cpp's scanner and parser messages (yaml-cpp/exceptions.h), said the way a config author needs them.
struct Rewording {
  const char* yaml_cpp_prefix;
  const char* message;
};
constexpr Rewording kRewordings[] = {
    {"end of map not found", "this line does not continue the block above it (check its indentation)"},
    {"end of sequence not found", "this line does not continue the block above it (check its indentation)"},
    {"end of map flow not found", "a '{' collection is not closed (expected ',' or '}')"},
    {"end of sequence flow not found", "a '[' collection is not closed (expected ',' or ']')"},
    {"illegal map value", "unexpected ':' (a nested block starts on its own indented line; quote a value with ': ')"},
    {"illegal map key", "unexpected mapping key here"},
    {"illegal block entry", "a block sequence '- ' must start on its own line"},
    {"illegal flow end", "a closing ']' or '}' without its opening bracket"},
    {"illegal EOF in scalar", "unterminated quoted string (the file ends inside it)"},
    {"unknown escape character: ", "unknown escape in a double-quoted string: \\"},
    {"invalid unicode: ", "bad escape: not a Unicode scalar value: "},
    {"unknown token", "a value cannot start with this character ('@' and '`' are reserved: quote the value)"},
    {"the referenced anchor is not defined", "alias '*' names an anchor not defined before it"},
};

std::string reworded(const std::string& yaml_cpp_message) {
  for (const auto& [prefix, message] : kRewordings) {
    const size_t n = std::strlen(prefix);
    if (yaml_cpp_message.compare(0, n, prefix) == 0) return message + yaml_cpp_message.substr(n);
  }
  return yaml_cpp_message;
}

// yaml-cpp 0.7 writes the escapes \N and \_ as the single bytes 0x85 and 0xA0; PyYAML reads U+0085 and
// U+00A0. The input is valid UTF-8, so such a byte never continues a character and is re-encoded here.
std::string scalar_text(const YAML::Node& node) {
  std::string text = node.Scalar();
  for (size_t pos = 0; pos < text.size(); ++pos) {
    const size_t length = unicode::valid_length(text, pos);
    if (length > 0) {
      pos += length - 1;
    } else if (text[pos] == '\x85' || text[pos] == '\xA0') {
      text.insert(pos++, 1, '\xC2');
    }
  }
  return text;
}

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  for (size_t start = 0; start <= text.size();) {
    size_t end = std::min(text.find('\n', start), text.size());
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

// Remembers where a document's root node starts; ignores everything else.
struct RootMark : YAML::EventHandler {
  std::optional<YAML::Mark> mark;
  void node(const YAML::Mark& at) {
    if (!mark) mark = at;
  }
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& at, YAML::anchor_t) override { node(at); }
  void OnAlias(const YAML::Mark& at, YAML::anchor_t) override { node(at); }
  void OnScalar(const YAML::Mark& at, const std::string&, YAML::anchor_t, const std::string&) override { node(at); }
  void OnSequenceStart(const YAML::Mark& at, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    node(at);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& at, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    node(at);
  }
  void OnMapEnd() override {}
};

class Reader {
 public:
  Reader(const std::string& text, std::string source) : text_(text), source_(std::move(source)) {}

  Json read() {
    check_text();
    YAML::Node document;
    std::optional<YAML::Mark> second;
    try {
      document = YAML::Load(text_);
      second = second_document();
    } catch (const YAML::Exception& e) {
      explain_parse_error(e);
    }
    if (second) explain_second_document(*second);
    return convert(document, 0);
  }

 private:
  std::string location(const YAML::Mark& mark) const { return location(mark.line, mark.column); }
  std::string location(int line, int column) const { return fmt::format("{}:{}:{}", source_, line + 1, column + 1); }
  [[noreturn]] void fail_at(const YAML::Mark& mark, const std::string& message) const {
    fail("yaml", "{}: {}", location(mark), message);
  }
  [[noreturn]] void fail_at_line(int line, const std::string& message) const {
    fail("yaml", "{}: {}", location(line, 0), message);
  }

  // NUL is no YAML character, and yaml-cpp would take NUL patterns for UTF-16/32 (YAML 1.2 5.2) and decode as such.
  void check_text() const {
    for (size_t pos = 0, n; pos < text_.size(); pos += n) {
      n = unicode::valid_length(text_, pos);
      if (n == 0 || text_[pos] == '\0')
        fail("yaml", "{}:{}: {} (byte {} of the file)", source_, 1 + std::count(text_.begin(), text_.begin() + pos, '\n'),
             n == 0 ? "invalid UTF-8" : "NUL character", pos + 1);
    }
  }

  // A tab in indentation confuses yaml-cpp's report, so the first such line up to the failure is named instead.
  [[noreturn]] void explain_parse_error(const YAML::Exception& e) const {
    const auto lines = split_lines(text_);
    for (int line = 0; line <= e.mark.line && line < static_cast<int>(lines.size()); ++line) {
      const std::string_view text = lines[line];
      const size_t first = text.find_first_not_of(' ');
      if (first != std::string_view::npos && text[first] == '\t')
        fail_at_line(line, "tab character in indentation (YAML indents with spaces)");
    }
    if (e.mark.is_null()) fail("yaml", "{}: {}", source_, reworded(e.msg));
    fail("yaml", "{}: {}", location_of(construct_start(e)), reworded(e.msg));
  }

  // yaml-cpp reports a bad escape after it and an unterminated string at the end of the file; the
  // construct starts at the backslash or at the opening quote, where the old reader pointed too.
  size_t construct_start(const YAML::Exception& e) const {
    const size_t at = std::min<size_t>(e.mark.pos, text_.size());
    const bool escape = e.msg.rfind("unknown escape", 0) == 0 || e.msg.rfind("invalid unicode", 0) == 0 ||
                        e.msg.rfind("bad character found while scanning hex", 0) == 0;
    const bool unclosed = e.msg.rfind("end of sequence flow", 0) == 0 || e.msg.rfind("end of map flow", 0) == 0;
    const size_t start = escape                                          ? text_.rfind('\\', at)
                         : e.msg.rfind("illegal EOF in scalar", 0) == 0 ? text_.find_last_of("\"'", at)
                         : unclosed                                     ? last_unclosed_bracket(std::max(at, line_end(at)))
                                                                         : std::string::npos;
    return start == std::string::npos ? at : start;
  }

  size_t line_end(size_t offset) const { return std::min(text_.find('\n', offset), text_.size()); }

  // The innermost '[' or '{' still open at `end`, skipping quoted strings and comments; npos if none.
  size_t last_unclosed_bracket(size_t end) const {
    std::vector<size_t> open;
    for (size_t i = 0; i < end; ++i) {
      const char c = text_[i];
      if (c == '"' || c == '\'') {
        for (++i; i < end && text_[i] != c; ++i) i += c == '"' && text_[i] == '\\';
      } else if (c == '#' && (i == 0 || text_[i - 1] == ' ' || text_[i - 1] == '\n')) {
        i = line_end(i);
      } else if (c == '[' || c == '{') {
        open.push_back(i);
      } else if ((c == ']' || c == '}') && !open.empty()) {
        open.pop_back();
      }
    }
    return open.empty() ? std::string::npos : open.back();
  }

  std::string location_of(size_t offset) const {
    const size_t line_start = offset == 0 ? 0 : text_.rfind('\n', offset - 1) + 1;  // npos + 1 == 0
    const auto line = std::count(text_.begin(), text_.begin() + offset, '\n');
    return location(static_cast<int>(line), static_cast<int>(offset - line_start));
  }

  // Where a second document starts, if any. Not YAML::LoadAll: yaml-cpp 0.7 loops there forever,
  // allocating, on a token no document consumes (",": jbeder/yaml-cpp#1319).
  std::optional<YAML::Mark> second_document() const {
    std::istringstream stream(text_);
    YAML::Parser parser(stream);
    RootMark first, second;
    if (!parser.HandleNextDocument(first) || !parser.HandleNextDocument(second)) return std::nullopt;
    return second.mark.value_or(YAML::Mark());
  }

  // A config is one document; yaml-cpp also starts a new one where a block ends too early.
  [[noreturn]] void explain_second_document(const YAML::Mark& mark) const {
    const auto lines = split_lines(text_);
    for (int line = std::min<int>(mark.line, lines.size() - 1); line >= 0; --line) {
      if (lines[line].rfind("---", 0) == 0 || lines[line].rfind("...", 0) == 0)
        fail_at_line(line, "a second YAML document; a config file holds one");
    }
    fail_at(mark, "this line does not continue the block above it (check its indentation)");
  }

  Json convert(const YAML::Node& node, int depth) {
    if (depth > kMaxDepth) fail_at(node.Mark(), fmt::format("nests deeper than {} levels", kMaxDepth));
    if (++nodes_ > kMaxNodes) fail_at(node.Mark(), fmt::format("expands to more than {} values", kMaxNodes));
    switch (node.Type()) {
      case YAML::NodeType::Scalar: return scalar(node);
      case YAML::NodeType::Sequence: {
        check_collection_tag(node, "seq");
        Json list = Json::array();
        for (const auto& item : node) list.push_back(convert(item, depth + 1));
        return list;
      }
      case YAML::NodeType::Map: return mapping(node, depth);
      default: return nullptr;  // Null: an empty value
    }
  }

  // Plain scalars resolve as PyYAML does; quoted and block scalars ("!") are strings.
  Json scalar(const YAML::Node& node) const {
    const std::string& tag = node.Tag();
    const std::string text = scalar_text(node);
    if (tag == "?") return resolve_plain_scalar(text, location(node.Mark()));
    if (tag == "!" || tag == std::string(kCoreTag) + "str") return text;
    for (const auto& [name, type] : {std::pair{"int", Json::value_t::number_integer},
                                     {"float", Json::value_t::number_float},
                                     {"bool", Json::value_t::boolean},
                                     {"null", Json::value_t::null}}) {
      if (tag != std::string(kCoreTag) + name) continue;
      Json value = resolve_plain_scalar(text, location(node.Mark()));
      if (type == Json::value_t::number_float && value.is_number_integer()) value = value.get<double>();
      if (value.type() != type) fail_at(node.Mark(), fmt::format("'{}' is not a valid !!{}", text, name));
      return value;
    }
    unsupported_tag(node);
  }

  void check_collection_tag(const YAML::Node& node, const char* kind) const {
    if (node.Tag() != "?" && node.Tag() != "!" && node.Tag() != std::string(kCoreTag) + kind) unsupported_tag(node);
  }
  [[noreturn]] void unsupported_tag(const YAML::Node& node) const {
    fail_at(node.Mark(), fmt::format("unsupported tag '{}' (Flotilla resolves !!str, !!int, !!float, !!bool, "
                                     "!!null, !!seq and !!map)",
                                     node.Tag()));
  }

  // Keys are scalars kept as written; "<<" merges mappings as PyYAML does (explicit keys win).
  Json mapping(const YAML::Node& node, int depth) {
    check_collection_tag(node, "map");
    Json merged = Json::object();
    Json explicit_keys = Json::object();
    std::vector<std::pair<std::string, int>> key_lines;
    for (const auto& entry : node) {
      const YAML::Node& key = entry.first;
      if (key.IsNull()) fail_at(key.Mark(), "empty mapping key");
      if (!key.IsScalar()) fail_at(key.Mark(), "a mapping key must be a scalar, not a list or mapping");
      if (key.Tag() == "?" && key.Scalar() == "<<") {
        merge_into(merged, entry.second, depth);
        continue;
      }
      const std::string name = scalar_text(key);
      const auto first = std::find_if(key_lines.begin(), key_lines.end(), [&](const auto& k) { return k.first == name; });
      if (first != key_lines.end())
        fail_at(key.Mark(), fmt::format("duplicate key '{}' (first defined at line {})", name, first->second));
      key_lines.emplace_back(name, key.Mark().line + 1);
      explicit_keys[name] = convert(entry.second, depth + 1);
    }
    for (auto& [name, value] : explicit_keys.items()) merged[name] = std::move(value);
    return merged;
  }

  void merge_into(Json& merged, const YAML::Node& source, int depth) {
    std::vector<YAML::Node> maps;
    if (source.IsMap()) maps.push_back(source);
    if (source.IsSequence()) {
      for (const YAML::Node& item : source) maps.push_back(item);
    }
    if (maps.empty() || std::any_of(maps.begin(), maps.end(), [](const YAML::Node& m) { return !m.IsMap(); }))
      fail_at(source.Mark(), "a merge key '<<' takes a mapping or a list of mappings");
    for (const auto& map : maps) {  // earlier mappings win, as in PyYAML
      Json entries = convert(map, depth + 1);
      for (auto& [name, value] : entries.items()) {
        if (!merged.contains(name)) merged[name] = std::move(value);
      }
    }
  }

  const std::string& text_;
  std::string source_;
  size_t nodes_ = 0;
};

}  // namespace

nlohmann::ordered_json parse_yaml(const std::string& text, const std::string& source) {
  return Reader(text, source).read();
}

nlohmann::ordered_json load_yaml_file(const std::string& path) {
  return parse_yaml(read_file(path, "yaml"), path);
}

}  // namespace flotilla::config
