// Python's json.dumps over template values, byte for byte: transformers' `tojson` filter is
// json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False).
#include <algorithm>
#include <cmath>

#include "unicode/properties.h"
#include "unicode/utf8.h"
#include "chat/value.h"

namespace flotilla::chat {

namespace {

void append_json_string(std::string& out, const std::string& text, bool ensure_ascii) {
  out.push_back('"');
  auto escape_control = [&](char32_t c) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        out += fmt::format("\\u{:04x}", static_cast<uint32_t>(c));
    }
  };
  if (!ensure_ascii || unicode::is_ascii(text)) {
    for (char ch : text) {
      auto c = static_cast<unsigned char>(ch);
      bool must_escape = c < 0x20 || c == '"' || c == '\\' || (ensure_ascii && c == 0x7F);
      if (must_escape) {
        escape_control(c);
      } else {
        out.push_back(ch);
      }
    }
  } else {
    for (char32_t c : unicode::decode(text)) {
      if (c < 0x20 || c == '"' || c == '\\' || c == 0x7F) {
        escape_control(c);
      } else if (c < 0x7F) {
        out.push_back(static_cast<char>(c));
      } else if (c < 0x10000) {
        out += fmt::format("\\u{:04x}", static_cast<uint32_t>(c));
      } else {
        char32_t v = c - 0x10000;
        out += fmt::format("\\u{:04x}\\u{:04x}", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
      }
    }
  }
  out.push_back('"');
}

std::string float_json(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  return python_float_repr(value);
}

// json.dumps turns int, float, bool and None keys into strings; anything else is a TypeError.
std::string key_string(const Value& key) {
  switch (key.kind()) {
    case Kind::String:
      return key.str();
    case Kind::Int:
      return std::to_string(key.integer());
    case Kind::Float:
      return float_json(key.number());
    case Kind::Bool:
      return key.boolean() ? "true" : "false";
    case Kind::None:
      return "null";
    default:
      runtime_fail("keys must be str, int, float, bool or None, not {}", type_name(key));
  }
}

class JsonWriter {
 public:
  explicit JsonWriter(const JsonDumpOptions& options) : options_(options) {}

  void write(const Value& v, int level) {
    switch (v.kind()) {
      case Kind::None:
        out_ += "null";
        return;
      case Kind::Bool:
        out_ += v.boolean() ? "true" : "false";
        return;
      case Kind::Int:
        out_ += std::to_string(v.integer());
        return;
      case Kind::Float:
        out_ += float_json(v.number());
        return;
      case Kind::String:
        if (v.str().size() > options_.max_bytes) check_size(v.str().size());
        append_json_string(out_, v.str(), options_.ensure_ascii);
        check_size(out_.size());
        return;
      case Kind::List:
      case Kind::Tuple:
        if (v.list_data().type_name) break;
        write_list(v.items(), level);
        return;
      case Kind::Dict:
        if (v.dict_data().read_only) break;
        write_dict(v.dict_data(), level);
        return;
      default:
        break;
    }
    runtime_fail("Object of type {} is not JSON serializable", type_name(v));
  }

  std::string take() { return std::move(out_); }

 private:
  void check_size(size_t bytes) const {
    if (bytes > options_.max_bytes)
      runtime_fail("JSON of more than {} bytes exceeds max_output_bytes", options_.max_bytes);
  }

  void newline(int level) {
    out_.push_back('\n');
    for (int i = 0; i < level; ++i) out_ += options_.indent;
    check_size(out_.size());
  }

  void write_list(const std::vector<Value>& items, int level) {
    if (items.empty()) {
      out_ += "[]";
      return;
    }
    out_.push_back('[');
    for (size_t i = 0; i < items.size(); ++i) {
      if (i) out_ += options_.item_separator;
      if (options_.has_indent) newline(level + 1);
      write(items[i], level + 1);
    }
    if (options_.has_indent) newline(level);
    out_.push_back(']');
  }

  void write_dict(const DictData& dict, int level) {
    if (dict.entries.empty()) {
      out_ += "{}";
      return;
    }
    std::vector<std::pair<std::string, const Value*>> entries;
    entries.reserve(dict.entries.size());
    for (const auto& [key, value] : dict.entries) entries.emplace_back(key_string(key), &value);
    if (options_.sort_keys) {
      std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    }
    out_.push_back('{');
    for (size_t i = 0; i < entries.size(); ++i) {
      if (i) out_ += options_.item_separator;
      if (options_.has_indent) newline(level + 1);
      append_json_string(out_, entries[i].first, options_.ensure_ascii);
      out_ += options_.key_separator;
      write(*entries[i].second, level + 1);
    }
    if (options_.has_indent) newline(level);
    out_.push_back('}');
  }

  const JsonDumpOptions& options_;
  std::string out_;
};

}  // namespace

std::string to_json(const Value& value, const JsonDumpOptions& options) {
  JsonWriter writer(options);
  writer.write(value, 0);
  return writer.take();
}

}  // namespace flotilla::chat
