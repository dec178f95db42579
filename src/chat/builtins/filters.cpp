// Scalar and string filters of jinja2 3.1 (filters.py) with autoescape off, transformers'
// `tojson`, and the registry the parser resolves filter names against.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <unordered_map>

#include "chat/builtins/builtins.h"
#include "chat/builtins/filters_sequence.h"
#include "chat/builtins/string_ops.h"
#include "chat/evaluator.h"
#include "unicode/properties.h"
#include "unicode/utf8.h"

namespace flotilla::chat {

namespace {

// jinja2's soft_str: Markup stays Markup, everything else becomes str().
Value soft_str(const Value& value) { return value.is_string() ? value : Value(to_str(value)); }

// Python float(str): surrounding whitespace, underscores between digits, inf/nan spellings.
bool parse_python_float(const std::string& text, double* out) {
  std::string trimmed = py_strip(text, Value(), true, true);
  std::string cleaned;
  for (size_t i = 0; i < trimmed.size(); ++i) {
    char c = trimmed[i];
    if (c == '_') {
      bool between_digits = i > 0 && i + 1 < trimmed.size() &&
                            std::isdigit(static_cast<unsigned char>(trimmed[i - 1])) &&
                            std::isdigit(static_cast<unsigned char>(trimmed[i + 1]));
      if (!between_digits) return false;
      continue;
    }
    cleaned.push_back(c);
  }
  if (cleaned.empty() || cleaned.find_first_of("xXpP") != std::string::npos) return false;
  std::string body = cleaned[0] == '+' || cleaned[0] == '-' ? cleaned.substr(1) : cleaned;
  std::string lowered = lower(body);
  if (lowered == "inf" || lowered == "infinity" || lowered == "nan") {
    double value = lowered == "nan" ? NAN : INFINITY;
    *out = cleaned[0] == '-' ? -value : value;
    return true;
  }
  char* end = nullptr;
  *out = std::strtod(cleaned.c_str(), &end);
  return end == cleaned.c_str() + cleaned.size() && body.find_first_not_of("0123456789.eE+-") == std::string::npos;
}

// Python int(str, base) for base 10 or a prefixed base 0/2/8/16.
bool parse_python_int(const std::string& text, int64_t base, int64_t* out) {
  std::string cleaned;
  for (char c : py_strip(text, Value(), true, true)) {
    if (c != '_') cleaned.push_back(c);
  }
  if (cleaned.empty()) return false;
  size_t start = cleaned[0] == '+' || cleaned[0] == '-' ? 1 : 0;
  if (base == 0 || base == 16 || base == 8 || base == 2) {
    if (cleaned.size() > start + 1 && cleaned[start] == '0') {
      char prefix = static_cast<char>(std::tolower(cleaned[start + 1]));
      int64_t prefixed = prefix == 'x' ? 16 : prefix == 'o' ? 8 : prefix == 'b' ? 2 : 0;
      if (prefixed && (base == 0 || base == prefixed)) {
        base = prefixed;
        cleaned.erase(start, 2);
      }
    }
    if (base == 0) base = 10;
  }
  if (base < 2 || base > 36 || cleaned.size() <= start) return false;
  errno = 0;
  char* end = nullptr;
  long long value = std::strtoll(cleaned.c_str(), &end, static_cast<int>(base));
  if (errno == ERANGE) runtime_fail("unsupported: integer exceeds 64 bits");
  if (end != cleaned.c_str() + cleaned.size() || std::isspace(static_cast<unsigned char>(cleaned[start]))) return false;
  *out = value;
  return true;
}

Value filter_abs(Evaluator&, const Value& value, CallArgs& args) {
  ArgParser("abs", args, {});
  if (value.kind() == Kind::Float) return Value(std::fabs(value.number()));
  if (value.is_integer()) {
    if (value.integer() == INT64_MIN) runtime_fail("unsupported: integer result exceeds 64 bits");
    return Value(static_cast<int64_t>(std::llabs(value.integer())));
  }
  runtime_fail("bad operand type for abs(): '{}'", type_name(value));
}

Value filter_default(Evaluator&, const Value& value, CallArgs& args) {
  ArgParser parser("default", args, {"default_value", "boolean"});
  bool use_default = value.is_undefined() || (parser.get_bool(1, false) && !truthy(value));
  return use_default ? parser.get(0, Value(std::string())) : value;
}

Value filter_escape(Evaluator&, const Value& value, CallArgs& args) {
  ArgParser("escape", args, {});
  if (value.is_string() && value.is_safe()) return value;
  return Value(html_escape(to_str(value)), true);
}

Value filter_forceescape(Evaluator&, const Value& value, CallArgs& args) {
  ArgParser("forceescape", args, {});
  return Value(html_escape(to_str(value)), true);
}

Value filter_safe(Evaluator&, const Value& value, CallArgs& args) {
  ArgParser("safe", args, {});
  return Value(to_str(value), true);
}

Value filter_string(Evaluator& evaluator, const Value& value, CallArgs& args) {
  ArgParser("string", args, {});
  return value.is_string() ? value : Value(to_str(value, evaluator.limits().max_output_bytes));
}

Value filter_int(Evaluator&, const Value& value, CallArgs& args) {
  ArgParser parser("int", args, {"default", "base"});
  Value fallback = parser.get(0, Value(int64_t{0}));
  if (value.is_undefined()) fail_undefined(value);
  if (value.is_integer()) return Value(value.integer());
  if (value.kind() == Kind::Float) {
    double number = value.number();
    if (std::isnan(number) || std::isinf(number)) runtime_fail("cannot convert float {} to integer", to_str(value));
    if (std::fabs(number) >= 9.2e18) runtime_fail("unsupported: integer exceeds 64 bits");
    return Value(static_cast<int64_t>(std::trunc(number)));
  }
  if (!value.is_string()) return fallback;
  int64_t parsed = 0;
  if (parse_python_int(value.str(), parser.get_int(1, 10), &parsed)) return Value(parsed);
  double real = 0;
  if (!parse_python_float(value.str(), &real) || std::isnan(real) || std::isinf(real)) return fallback;
  if (std::fabs(real) >= 9.2e18) runtime_fail("unsupported: integer exceeds 64 bits");
  return Value(static_cast<int64_t>(std::trunc(real)));
}

Value filter_float(Evaluator&, const Value& value, CallArgs& args) {
  ArgParser parser("float", args, {"default"});
  if (value.is_undefined()) fail_undefined(value);
  if (value.is_number()) return Value(value.number());
  double parsed = 0;
  if (value.is_string() && parse_python_float(value.str(), &parsed)) return Value(parsed);
  return parser.get(0, Value(0.0));
}

Value filter_round(Evaluator&, const Value& value, CallArgs& args) {
  ArgParser parser("round", args, {"precision", "method"});
  int64_t precision = parser.get_int(0, 0);
  std::string method = parser.has(1) ? to_str(parser.get(1)) : "common";
  if (method != "common" && method != "ceil" && method != "floor") {
    runtime_fail("method must be common, ceil or floor");
  }
  if (!value.is_number()) runtime_fail("type {} doesn't define __round__ method", type_name(value));
  if (method == "common") {
    if (value.is_integer() && precision >= 0) return Value(value.integer());
    if (precision < 0) {
      double scale = std::pow(10.0, static_cast<double>(-precision));
      double rounded = std::nearbyint(value.number() / scale) * scale;
      return value.is_integer() ? Value(static_cast<int64_t>(rounded)) : Value(rounded);
    }
    // Python rounds the exact binary value half-to-even, as glibc's correctly rounded printf does.
    char text[1024];
    snprintf(text, sizeof(text), "%.*f", static_cast<int>(std::min<int64_t>(precision, 300)), value.number());
    return Value(std::strtod(text, nullptr));
  }
  double scale = std::pow(10.0, static_cast<double>(precision));
  double scaled = value.number() * scale;
  return Value((method == "ceil" ? std::ceil(scaled) : std::floor(scaled)) / scale);
}

Value filter_trim(Evaluator&, const Value& value, CallArgs& args) {
  ArgParser parser("trim", args, {"chars"});
  Value text = soft_str(value);
  return Value(py_strip(text.str(), parser.get(0), true, true), text.is_safe());
}

Value filter_upper(Evaluator&, const Value& value, CallArgs& args) {
  ArgParser("upper", args, {});
  Value text = soft_str(value);
  return Value(upper(text.str()), text.is_safe());
}

Value filter_lower(Evaluator&, const Value& value, CallArgs& args) {
  ArgParser("lower", args, {});
  Value text = soft_str(value);
  return Value(lower(text.str()), text.is_safe());
}

Value filter_capitalize(Evaluator&, const Value& value, CallArgs& args) {
  ArgParser("capitalize", args, {});
  Value text = soft_str(value);
  return Value(py_capitalize(text.str()), text.is_safe());
}

Value filter_title(Evaluator&, const Value& value, CallArgs& args) {
  ArgParser("title", args, {});
  return Value(jinja_title(to_str(value)));
}

Value filter_replace(Evaluator& evaluator, const Value& value, CallArgs& args) {
  ArgParser parser("replace", args, {"old", "new", "count"});
  Value count = parser.get(2, Value::none());
  size_t max_bytes = evaluator.limits().max_output_bytes;
  return Value(py_replace(to_str(value, max_bytes), to_str(parser.get(0), max_bytes), to_str(parser.get(1), max_bytes),
                          count.is_none() ? -1 : parser.get_int(2, -1), max_bytes));
}

Value filter_center(Evaluator& evaluator, const Value& value, CallArgs& args) {
  ArgParser parser("center", args, {"width"});
  CallArgs method_args;
  method_args.positional.push_back(Value(parser.get_int(0, 80)));
  return evaluator.call(find_method(Value(to_str(value)), "center"), method_args);
}

Value filter_indent(Evaluator& evaluator, const Value& value, CallArgs& args) {
  ArgParser parser("indent", args, {"width", "first", "blank"});
  Value width = parser.get(0, Value(int64_t{4}));
  if (!width.is_string()) evaluator.check_string_size(static_cast<size_t>(std::max<int64_t>(parser.get_int(0, 4), 0)));
  std::string indention = width.is_string()
                              ? width.str()
                              : std::string(static_cast<size_t>(std::max<int64_t>(parser.get_int(0, 4), 0)), ' ');
  bool first = parser.get_bool(1, false);
  bool blank = parser.get_bool(2, false);
  std::vector<std::string> lines = split_lines(to_str(value, evaluator.limits().max_output_bytes) + "\n", false);
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) out += "\n";
    bool indent_line = i == 0 ? first : (blank || !lines[i].empty());
    if (indent_line) out += indention;
    out += lines[i];
    evaluator.check_string_size(out.size());
  }
  return Value(std::move(out), value.is_safe());
}

Value filter_wordcount(Evaluator&, const Value& value, CallArgs& args) {
  ArgParser("wordcount", args, {});
  int64_t words = 0;
  bool in_word = false;
  for (char32_t c : unicode::decode(to_str(value))) {
    bool word_char = unicode::is_alpha(c) || unicode::is_decimal_digit(c) || c == '_';
    if (word_char && !in_word) ++words;
    in_word = word_char;
  }
  return Value(words);
}

Value filter_format(Evaluator& evaluator, const Value& value, CallArgs& args) {
  if (!args.positional.empty() && !args.keyword.empty()) {
    runtime_fail("can't handle positional and keyword arguments at the same time");
  }
  Value format_args = Value::tuple(args.positional);
  if (!args.keyword.empty()) {
    auto mapping = std::make_shared<DictData>();
    for (const auto& [key, arg] : args.keyword) mapping->set(Value(key), arg);
    format_args = Value::dict(mapping);
  }
  size_t max_bytes = evaluator.limits().max_output_bytes;
  return Value(percent_format(to_str(value, max_bytes), format_args, max_bytes));
}

// transformers: json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False).
Value filter_tojson(Evaluator& evaluator, const Value& value, CallArgs& args) {
  ArgParser parser("tojson", args, {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonDumpOptions options;
  options.ensure_ascii = parser.get_bool(0, false);
  options.sort_keys = parser.get_bool(3, false);
  options.max_bytes = evaluator.limits().max_output_bytes;
  Value indent = parser.get(1, Value::none());
  if (!indent.is_none()) {
    options.has_indent = true;
    options.item_separator = ",";
    if (indent.is_string()) {
      options.indent = indent.str();
    } else if (indent.is_integer()) {
      options.indent.assign(static_cast<size_t>(std::clamp<int64_t>(indent.integer(), 0, 4096)), ' ');
    } else {
      runtime_fail("tojson indent must be an int or a str, not {}", type_name(indent));
    }
  }
  Value separators = parser.get(2, Value::none());
  if (!separators.is_none()) {
    std::vector<Value> parts = iterate(separators);
    if (parts.size() != 2 || !parts[0].is_string() || !parts[1].is_string()) {
      runtime_fail("tojson separators must be an (item_separator, key_separator) pair of str");
    }
    options.item_separator = parts[0].str();
    options.key_separator = parts[1].str();
  }
  return Value(to_json(value, options));
}

Value filter_length(Evaluator&, const Value& value, CallArgs& args) {
  ArgParser("length", args, {});
  return Value(length(value));
}

Value filter_list(Evaluator&, const Value& value, CallArgs& args) {
  ArgParser("list", args, {});
  return Value::list(iterate(value));
}

Value filter_attr(Evaluator& evaluator, const Value& value, CallArgs& args) {
  ArgParser parser("attr", args, {"name"});
  Value name = parser.get(0);
  if (!name.is_string()) runtime_fail("attribute name must be a string");
  if (value.kind() == Kind::Namespace || (value.kind() == Kind::Dict && value.dict_data().read_only)) {
    return evaluator.get_attr(value, name.str());
  }
  if (value.is_undefined()) fail_undefined(value);
  Value method = find_method(value, name.str());
  return method.is_undefined() && method.undefined_hint().empty() ? Value::undefined(missing_hint(value, name))
                                                                  : method;
}

const std::unordered_map<std::string_view, FilterFunction>& filter_table() {
  static const auto* table = [] {
    auto* filters = new std::unordered_map<std::string_view, FilterFunction>{
        {"abs", filter_abs},
        {"attr", filter_attr},
        {"capitalize", filter_capitalize},
        {"center", filter_center},
        {"count", filter_length},
        {"d", filter_default},
        {"default", filter_default},
        {"e", filter_escape},
        {"escape", filter_escape},
        {"float", filter_float},
        {"forceescape", filter_forceescape},
        {"format", filter_format},
        {"indent", filter_indent},
        {"int", filter_int},
        {"length", filter_length},
        {"list", filter_list},
        {"lower", filter_lower},
        {"replace", filter_replace},
        {"round", filter_round},
        {"safe", filter_safe},
        {"string", filter_string},
        {"title", filter_title},
        {"tojson", filter_tojson},
        {"trim", filter_trim},
        {"upper", filter_upper},
        {"wordcount", filter_wordcount},
    };
    add_sequence_filters(*filters);
    return filters;
  }();
  return *table;
}

}  // namespace

FilterFunction find_filter(std::string_view name, Availability* availability) {
  static const char* kUnsupported[] = {"filesizeformat", "groupby",   "pprint", "random",   "striptags",
                                       "truncate",       "urlencode", "urlize", "wordwrap", "xmlattr"};
  const auto& table = filter_table();
  auto it = table.find(name);
  if (it != table.end()) {
    *availability = Availability::Supported;
    return it->second;
  }
  *availability = Availability::Unknown;
  for (const char* unsupported : kUnsupported) {
    if (name == unsupported) *availability = Availability::Unsupported;
  }
  return nullptr;
}

}  // namespace flotilla::chat
