// Python str operations over UTF-8 with code-point indices: strip, split, replace, find, case
// mapping, and the % and str.format() formatting that filters and str methods share.
#include "chat/builtins/string_ops.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "unicode/properties.h"
#include "unicode/utf8.h"

namespace flotilla::chat {

namespace {

bool separator_is_whitespace(const Value& separator) { return separator.is_undefined() || separator.is_none(); }

const std::string& require_string(const Value& value, std::string_view what) {
  if (!value.is_string()) runtime_fail("{} must be str or None, not {}", what, type_name(value));
  return value.str();
}

std::vector<std::string> split_whitespace(std::string_view text, int64_t max_split, bool from_right) {
  std::u32string chars = unicode::decode(text);
  if (from_right) std::reverse(chars.begin(), chars.end());
  std::vector<std::string> parts;
  size_t i = 0;
  while (true) {
    while (i < chars.size() && unicode::is_python_space(chars[i])) ++i;
    if (i >= chars.size()) break;
    if (max_split >= 0 && static_cast<int64_t>(parts.size()) == max_split) {
      std::u32string rest = chars.substr(i);
      if (from_right) std::reverse(rest.begin(), rest.end());
      parts.push_back(unicode::encode(rest));
      break;
    }
    size_t start = i;
    while (i < chars.size() && !unicode::is_python_space(chars[i])) ++i;
    std::u32string word = chars.substr(start, i - start);
    if (from_right) std::reverse(word.begin(), word.end());
    parts.push_back(unicode::encode(word));
  }
  if (from_right) std::reverse(parts.begin(), parts.end());
  return parts;
}

// snprintf with a C conversion spec built from a Python one; field widths are bounded.
template <typename T>
std::string c_format(const std::string& spec, T value) {
  int size = snprintf(nullptr, 0, spec.c_str(), value);
  if (size < 0) runtime_fail("invalid format '{}'", spec);
  if (size > (1 << 20)) runtime_fail("unsupported: formatted field of {} bytes", size);
  std::vector<char> buffer(static_cast<size_t>(size) + 1);
  snprintf(buffer.data(), buffer.size(), spec.c_str(), value);
  return std::string(buffer.data(), static_cast<size_t>(size));
}

void check_length(const std::string& out, size_t max_bytes) {
  if (out.size() > max_bytes) runtime_fail("a string of more than {} bytes exceeds max_output_bytes", max_bytes);
}

int64_t code_point_index(std::string_view text, size_t byte_offset) {
  return static_cast<int64_t>(unicode::count_code_points(text.substr(0, byte_offset)));
}

}  // namespace

std::string py_strip(std::string_view text, const Value& chars, bool left, bool right) {
  std::u32string decoded = unicode::decode(text);
  std::u32string set;
  bool whitespace = separator_is_whitespace(chars);
  if (!whitespace) set = unicode::decode(require_string(chars, "strip arg"));
  auto strip_char = [&](char32_t c) { return whitespace ? unicode::is_python_space(c) : set.find(c) != std::u32string::npos; };
  size_t begin = 0;
  size_t end = decoded.size();
  while (left && begin < end && strip_char(decoded[begin])) ++begin;
  while (right && end > begin && strip_char(decoded[end - 1])) --end;
  return unicode::encode(std::u32string_view(decoded).substr(begin, end - begin));
}

std::vector<std::string> py_split(std::string_view text, const Value& separator, int64_t max_split, bool from_right) {
  if (separator_is_whitespace(separator)) return split_whitespace(text, max_split, from_right);
  const std::string& sep = require_string(separator, "separator");
  if (sep.empty()) runtime_fail("empty separator");
  std::vector<std::string> parts;
  if (!from_right) {
    size_t start = 0;
    while (max_split < 0 || static_cast<int64_t>(parts.size()) < max_split) {
      size_t found = text.find(sep, start);
      if (found == std::string_view::npos) break;
      parts.emplace_back(text.substr(start, found - start));
      start = found + sep.size();
    }
    parts.emplace_back(text.substr(start));
    return parts;
  }
  size_t end = text.size();
  while (max_split < 0 || static_cast<int64_t>(parts.size()) < max_split) {
    if (end < sep.size()) break;
    size_t found = text.rfind(sep, end - sep.size());
    if (found == std::string_view::npos) break;
    parts.emplace_back(text.substr(found + sep.size(), end - found - sep.size()));
    end = found;
  }
  parts.emplace_back(text.substr(0, end));
  std::reverse(parts.begin(), parts.end());
  return parts;
}

std::string py_replace(std::string_view text, std::string_view old, std::string_view replacement, int64_t count,
                       size_t max_bytes) {
  std::string out;
  if (old.empty()) {  // Python inserts the replacement around every character
    std::u32string chars = unicode::decode(text);
    int64_t done = 0;
    for (size_t i = 0; i <= chars.size(); ++i) {
      if (count < 0 || done < count) {
        out += replacement;
        ++done;
        check_length(out, max_bytes);
      }
      if (i < chars.size()) unicode::append(out, chars[i]);
    }
    return out;
  }
  size_t start = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    size_t found = text.find(old, start);
    if (found == std::string_view::npos) break;
    out.append(text.substr(start, found - start));
    out.append(replacement);
    check_length(out, max_bytes);
    start = found + old.size();
    ++done;
  }
  out.append(text.substr(start));
  check_length(out, max_bytes);
  return out;
}

int64_t py_find(std::string_view text, std::string_view sub, bool from_right) {
  size_t found = from_right ? text.rfind(sub) : text.find(sub);
  return found == std::string_view::npos ? -1 : code_point_index(text, found);
}

int64_t py_count(std::string_view text, std::string_view sub) {
  if (sub.empty()) return static_cast<int64_t>(unicode::count_code_points(text)) + 1;
  int64_t count = 0;
  for (size_t start = text.find(sub); start != std::string_view::npos; start = text.find(sub, start + sub.size())) {
    ++count;
  }
  return count;
}

std::string py_capitalize(std::string_view text) {
  std::u32string chars = unicode::decode(text);
  for (size_t i = 0; i < chars.size(); ++i) chars[i] = i == 0 ? unicode::to_upper(chars[i]) : unicode::to_lower(chars[i]);
  return unicode::encode(chars);
}

std::string py_title(std::string_view text) {
  std::u32string chars = unicode::decode(text);
  bool previous_cased = false;
  for (char32_t& c : chars) {
    bool cased = unicode::to_upper(c) != c || unicode::to_lower(c) != c;
    if (cased) c = previous_cased ? unicode::to_lower(c) : unicode::to_upper(c);
    previous_cased = cased;
  }
  return unicode::encode(chars);
}

std::string jinja_title(std::string_view text) {
  std::u32string chars = unicode::decode(text);
  bool word_start = true;
  for (char32_t& c : chars) {
    bool separator = unicode::is_python_space(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
    if (separator) {
      word_start = true;
      continue;
    }
    c = word_start ? unicode::to_upper(c) : unicode::to_lower(c);
    word_start = false;
  }
  return unicode::encode(chars);
}

std::string percent_format(const std::string& format, const Value& args, size_t max_bytes) {
  std::vector<Value> positional;
  const DictData* mapping = nullptr;
  if (args.kind() == Kind::Tuple) {
    positional = args.items();
  } else if (args.kind() == Kind::Dict) {
    mapping = &args.dict_data();
    positional.push_back(args);
  } else {
    positional.push_back(args);
  }
  size_t next_arg = 0;
  std::string out;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%') {
      out.push_back(format[i]);
      continue;
    }
    if (++i >= format.size()) runtime_fail("incomplete format");
    const Value* arg = nullptr;
    if (format[i] == '(') {
      size_t close = format.find(')', i);
      if (close == std::string::npos || !mapping) runtime_fail("format requires a mapping");
      arg = mapping->find(std::string_view(format).substr(i + 1, close - i - 1));
      if (!arg) runtime_fail("KeyError: '{}'", format.substr(i + 1, close - i - 1));
      i = close + 1;
    }
    std::string spec = "%";
    while (i < format.size() && std::string_view("-+ #0").find(format[i]) != std::string_view::npos)
      spec += format[i++];
    while (i < format.size() && ((format[i] >= '0' && format[i] <= '9') || format[i] == '.')) spec += format[i++];
    while (i < format.size() && (format[i] == 'h' || format[i] == 'l' || format[i] == 'L')) ++i;
    if (i >= format.size()) runtime_fail("incomplete format");
    char type = format[i];
    if (type == '%') {
      out.push_back('%');
      continue;
    }
    if (!arg) {
      if (next_arg >= positional.size()) runtime_fail("not enough arguments for format string");
      arg = &positional[next_arg++];
    }
    if (type == 's' || type == 'r' || type == 'a') {
      std::string text = type == 's' ? to_str(*arg, max_bytes) : to_repr(*arg, max_bytes);
      if (spec == "%") {
        out += text;
        check_length(out, max_bytes);
        continue;
      }
      out += c_format(spec + "s", text.c_str());
    } else if (type == 'c') {
      if (arg->is_string() && unicode::count_code_points(arg->str()) == 1) {
        out += arg->str();
      } else if (arg->is_integer() && arg->integer() >= 0 && arg->integer() <= 0x10FFFF) {
        unicode::append(out, static_cast<char32_t>(arg->integer()));
      } else {
        runtime_fail("%c requires an int or a unicode character");
      }
      continue;
    } else if (std::string_view("diouxX").find(type) != std::string_view::npos) {
      if (!arg->is_number()) runtime_fail("%{} format: a real number is required, not {}", type, type_name(*arg));
      long long number = arg->is_integer() ? arg->integer() : static_cast<long long>(std::trunc(arg->number()));
      std::string c_type = type == 'i' || type == 'u' ? "d" : std::string(1, type);
      out += c_format(spec + "ll" + c_type, number);
    } else if (std::string_view("eEfFgG").find(type) != std::string_view::npos) {
      if (!arg->is_number()) runtime_fail("must be real number, not {}", type_name(*arg));
      out += c_format(spec + type, arg->number());
    } else {
      runtime_fail("unsupported format character '{}'", type);
    }
    check_length(out, max_bytes);
  }
  if (!mapping && next_arg < positional.size()) runtime_fail("not all arguments converted during string formatting");
  return out;
}

std::string brace_format(const std::string& format, const CallArgs& args, size_t max_bytes) {
  std::string out;
  size_t auto_index = 0;
  for (size_t i = 0; i < format.size(); ++i) {
    char c = format[i];
    if (c == '}') {
      if (i + 1 < format.size() && format[i + 1] == '}')
        ++i;
      else
        runtime_fail("Single '}}' encountered in format string");
      out.push_back('}');
      continue;
    }
    if (c != '{') {
      out.push_back(c);
      continue;
    }
    if (i + 1 < format.size() && format[i + 1] == '{') {
      out.push_back('{');
      ++i;
      continue;
    }
    size_t close = format.find('}', i);
    if (close == std::string::npos) runtime_fail("Single '{{' encountered in format string");
    std::string field = format.substr(i + 1, close - i - 1);
    i = close;
    char conversion = 's';
    size_t bang = field.find('!');
    if (field.find(':') != std::string::npos) runtime_fail("unsupported: format spec in str.format field '{}'", field);
    if (bang != std::string::npos) {
      conversion = bang + 1 < field.size() ? field[bang + 1] : 's';
      field.resize(bang);
    }
    if (field.find_first_of(".[") != std::string::npos) runtime_fail("unsupported: str.format field '{}'", field);
    const Value* arg = nullptr;
    if (field.empty() || std::all_of(field.begin(), field.end(), [](char d) { return d >= '0' && d <= '9'; })) {
      size_t index = auto_index;
      if (field.empty()) {
        ++auto_index;
      } else if (std::from_chars(field.data(), field.data() + field.size(), index).ec != std::errc()) {
        runtime_fail("Replacement index {} out of range for positional args tuple", field);
      }
      if (index >= args.positional.size())
        runtime_fail("Replacement index {} out of range for positional args tuple", index);
      arg = &args.positional[index];
    } else {
      for (const auto& [key, value] : args.keyword) {
        if (key == field) arg = &value;
      }
      if (!arg) runtime_fail("KeyError: '{}'", field);
    }
    out += conversion == 'r' || conversion == 'a' ? to_repr(*arg, max_bytes) : to_str(*arg, max_bytes);
    check_length(out, max_bytes);
  }
  return out;
}

namespace {

// Each code point through `map`, with the ASCII-only fast path.
template <typename Map>
std::string map_code_points(std::string_view text, const Map& map) {
  std::string out;
  out.reserve(text.size());
  if (unicode::is_ascii(text)) {
    for (char c : text) map(out, static_cast<unsigned char>(c));
    return out;
  }
  for (char32_t c : unicode::decode(text)) map(out, c);
  return out;
}

}  // namespace

std::string upper(std::string_view text) {
  return map_code_points(text, [](std::string& out, char32_t c) {
    if (c == 0xDF) out += "SS";  // ß has no one-code-point upper case
    else unicode::append(out, unicode::to_upper(c));
  });
}

std::string lower(std::string_view text) {
  return map_code_points(text, [](std::string& out, char32_t c) { unicode::append(out, unicode::to_lower(c)); });
}

std::vector<std::string> split_lines(std::string_view text, bool keep_ends) {
  std::vector<std::string> lines;
  std::u32string chars = unicode::decode(text);
  size_t start = 0;
  size_t i = 0;
  while (i < chars.size()) {
    char32_t c = chars[i];
    bool is_break = c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D || c == 0x1E ||
                    c == 0x85 || c == 0x2028 || c == 0x2029;
    if (!is_break) {
      ++i;
      continue;
    }
    size_t end = i;
    size_t next = i + 1;
    if (c == '\r' && next < chars.size() && chars[next] == '\n') ++next;
    lines.push_back(unicode::encode(std::u32string_view(chars).substr(start, (keep_ends ? next : end) - start)));
    start = next;
    i = next;
  }
  if (start < chars.size()) lines.push_back(unicode::encode(std::u32string_view(chars).substr(start)));
  return lines;
}

}  // namespace flotilla::chat
