// Python's str() and repr() of template values, as jinja2 prints them.
#include <algorithm>
#include <charconv>
#include <cmath>

#include "chat/limits.h"
#include "chat/value.h"
#include "unicode/properties.h"
#include "unicode/utf8.h"

namespace flotilla::chat {

namespace {

bool is_printable(char32_t c) {
  if (c < 0x20 || (c >= 0x7F && c <= 0xA0) || c == 0xAD) return false;
  if ((c >= 0x2000 && c <= 0x200F) || (c >= 0x2028 && c <= 0x202F) || (c >= 0x205F && c <= 0x206F)) return false;
  if (c == 0x3000 || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFB) || c == 0xFFFE || c == 0xFFFF) return false;
  return !(c >= 0xD800 && c <= 0xF8FF);
}

std::string string_repr(const std::string& text) {
  bool has_single = text.find('\'') != std::string::npos;
  bool has_double = text.find('"') != std::string::npos;
  char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (char32_t c : unicode::decode(text)) {
    if (c == static_cast<char32_t>(quote) || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (is_printable(c)) {
      unicode::append(out, c);
    } else if (c < 0x100) {
      out += fmt::format("\\x{:02x}", static_cast<uint32_t>(c));
    } else if (c < 0x10000) {
      out += fmt::format("\\u{:04x}", static_cast<uint32_t>(c));
    } else {
      out += fmt::format("\\U{:08x}", static_cast<uint32_t>(c));
    }
  }
  out.push_back(quote);
  return out;
}

void append_repr(std::string& out, const Value& v, size_t max_bytes);

void check_bound(const std::string& out, size_t max_bytes) {
  if (out.size() > max_bytes)
    runtime_fail("printing a value of more than {} bytes exceeds max_output_bytes", max_bytes);
}

void append_items_repr(std::string& out, const std::vector<Value>& items, size_t max_bytes) {
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ", ";
    append_repr(out, items[i], max_bytes);
  }
}

void append_dict_repr(std::string& out, const DictData& dict, size_t max_bytes) {
  out += "{";
  for (size_t i = 0; i < dict.entries.size(); ++i) {
    if (i) out += ", ";
    append_repr(out, dict.entries[i].first, max_bytes);
    out += ": ";
    append_repr(out, dict.entries[i].second, max_bytes);
  }
  out += "}";
}

void append_repr(std::string& out, const Value& v, size_t max_bytes) {
  switch (v.kind()) {
    case Kind::Undefined:
      out += "Undefined";
      break;
    case Kind::None:
      out += "None";
      break;
    case Kind::Bool:
      out += v.boolean() ? "True" : "False";
      break;
    case Kind::Int:
      out += std::to_string(v.integer());
      break;
    case Kind::Float:
      out += python_float_repr(v.number());
      break;
    case Kind::String:
      if (v.str().size() > max_bytes) check_bound(v.str(), max_bytes);
      out += v.is_safe() ? "Markup(" + string_repr(v.str()) + ")" : string_repr(v.str());
      break;
    case Kind::List: {
      if (is_range(v)) {
        const ListData& range = v.list_data();
        out += fmt::format("range({}, {}", range.range_start, range.range_stop);
        out += range.range_step == 1 ? ")" : fmt::format(", {})", range.range_step);
        break;
      }
      const char* view = v.list_data().type_name;
      if (view) out += std::string(view) + "(";
      out += "[";
      append_items_repr(out, v.items(), max_bytes);
      out += view ? "])" : "]";
      break;
    }
    case Kind::Tuple:
      out += "(";
      append_items_repr(out, v.items(), max_bytes);
      out += v.items().size() == 1 ? ",)" : ")";
      break;
    case Kind::Dict:
      if (v.dict_data().read_only) runtime_fail("unsupported: printing the loop object");
      append_dict_repr(out, v.dict_data(), max_bytes);
      break;
    case Kind::Namespace:
      out += "<Namespace ";
      append_dict_repr(out, v.dict_data(), max_bytes);
      out += ">";
      break;
    case Kind::Iterator:
    case Kind::Callable:
      runtime_fail("unsupported: printing a {} object (Python prints its memory address)", type_name(v));
  }
  check_bound(out, max_bytes);
}

}  // namespace

std::string python_float_repr(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buffer[64];
  auto result = std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::scientific);
  std::string scientific(buffer, result.ptr);
  std::string sign;
  if (scientific[0] == '-') {
    sign = "-";
    scientific.erase(0, 1);
  }
  size_t e = scientific.find('e');
  std::string digits = scientific.substr(0, e);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  int exponent = std::stoi(scientific.substr(e + 1));
  int point = exponent + 1;  // digits before the decimal point
  int count = static_cast<int>(digits.size());
  if (point > -4 && point <= 16) {
    if (point <= 0) return sign + "0." + std::string(-point, '0') + digits;
    if (point >= count) return sign + digits + std::string(point - count, '0') + ".0";
    return sign + digits.substr(0, point) + "." + digits.substr(point);
  }
  std::string mantissa = digits.substr(0, 1);
  if (count > 1) mantissa += "." + digits.substr(1);
  return sign + mantissa + fmt::format("e{}{:02d}", exponent < 0 ? '-' : '+', std::abs(exponent));
}

std::string to_str(const Value& v, size_t max_bytes) {
  if (v.is_undefined()) return "";
  if (v.is_string()) return v.str();
  return to_repr(v, max_bytes);
}

std::string to_repr(const Value& v, size_t max_bytes) {
  max_bytes = std::min(max_bytes, RenderBudget::max_string_bytes());
  std::string out;
  append_repr(out, v, max_bytes);
  return out;
}

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '\'':
        out += "&#39;";
        break;
      case '"':
        out += "&#34;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

}  // namespace flotilla::chat
