// Python methods of str, dict, list and tuple that templates call (`content.split('x')`); mutating
// ones are refused as in ImmutableSandboxedEnvironment, and Markup strings escape their arguments.
#include <algorithm>
#include <set>

#include "chat/builtins/builtins.h"
#include "chat/builtins/string_ops.h"
#include "chat/evaluator.h"
#include "chat/limits.h"
#include "unicode/properties.h"
#include "unicode/utf8.h"

namespace flotilla::chat {

namespace {

const std::set<std::string, std::less<>> kStrMethods = {
    "capitalize", "casefold",   "center",  "count",     "endswith",   "find",      "format",       "index",
    "isalnum",    "isalpha",    "isascii", "isdecimal", "isdigit",    "islower",   "isnumeric",    "isspace",
    "isupper",    "join",       "ljust",   "lower",     "lstrip",     "partition", "removeprefix", "removesuffix",
    "replace",    "rfind",      "rindex",  "rjust",     "rpartition", "rsplit",    "rstrip",       "split",
    "splitlines", "startswith", "strip",   "swapcase",  "title",      "upper",     "zfill"};
const std::set<std::string, std::less<>> kUnsupportedStrMethods = {
    "encode", "expandtabs", "format_map", "isidentifier", "isprintable", "istitle", "maketrans", "translate"};
const std::set<std::string, std::less<>> kMutatingDictMethods = {"clear", "pop", "popitem", "setdefault", "update"};
const std::set<std::string, std::less<>> kMutatingListMethods = {"append", "clear",  "extend",  "insert",
                                                                 "pop",    "remove", "reverse", "sort"};

const std::string& string_arg(const Value& value, std::string_view method) {
  if (!value.is_string()) runtime_fail("str.{}() argument must be str, not {}", method, type_name(value));
  return value.str();
}

// markupsafe escapes string arguments of Markup methods.
std::string escaped_arg(const Value& self, const Value& arg, std::string_view method) {
  const std::string& text = string_arg(arg, method);
  return self.is_safe() && !arg.is_safe() ? html_escape(text) : text;
}

bool all_chars(const std::string& text, bool (*predicate)(char32_t)) {
  std::u32string chars = unicode::decode(text);
  return !chars.empty() && std::all_of(chars.begin(), chars.end(), predicate);
}

bool affix_matches(const Value& self, const Value& affixes, bool at_end, std::string_view method) {
  std::vector<Value> options = affixes.kind() == Kind::Tuple ? affixes.items() : std::vector<Value>{affixes};
  const std::string& text = self.str();
  for (const Value& option : options) {
    const std::string& affix = string_arg(option, method);
    if (affix.size() > text.size()) continue;
    if (at_end ? text.compare(text.size() - affix.size(), affix.size(), affix) == 0
               : text.compare(0, affix.size(), affix) == 0) {
      return true;
    }
  }
  return false;
}

std::string pad(const std::string& text, int64_t width, const Value& fill, int side) {
  std::string fill_char = fill.is_undefined() ? " " : fill.str();
  if (unicode::count_code_points(fill_char) != 1) runtime_fail("The fill character must be exactly one character long");
  int64_t missing = width - static_cast<int64_t>(unicode::count_code_points(text));
  if (missing <= 0) return text;
  int64_t left = side < 0 ? 0 : side > 0 ? missing : missing / 2 + (missing & width & 1);
  auto repeat = [&](int64_t n) {
    std::string out;
    for (int64_t i = 0; i < n; ++i) out += fill_char;
    return out;
  };
  return repeat(left) + text + repeat(missing - left);
}

Value string_list(std::vector<std::string> parts, bool safe) {
  std::vector<Value> items;
  items.reserve(parts.size());
  for (auto& part : parts) items.emplace_back(std::move(part), safe);
  return Value::list(std::move(items));
}

Value call_str_method(Evaluator& evaluator, const Value& self, const std::string& name, CallArgs& args) {
  const std::string& text = self.str();
  bool safe = self.is_safe();
  std::string method = "str." + name;
  auto result = [&](std::string out) {
    evaluator.check_string_size(out.size());
    return Value(std::move(out), safe);
  };
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    ArgParser parser(method, args, {"chars"});
    return result(py_strip(text, parser.get(0), name != "rstrip", name != "lstrip"));
  }
  if (name == "split" || name == "rsplit") {
    ArgParser parser(method, args, {"sep", "maxsplit"});
    Value separator = parser.get(0);
    if (safe && separator.is_string()) separator = Value(escaped_arg(self, separator, name));
    return string_list(py_split(text, separator, parser.get_int(1, -1), name == "rsplit"), safe);
  }
  if (name == "splitlines") {
    ArgParser parser(method, args, {"keepends"});
    return string_list(split_lines(text, parser.get_bool(0, false)), safe);
  }
  if (name == "startswith" || name == "endswith") {
    ArgParser parser(method, args, {"prefix"});
    return Value(affix_matches(self, parser.get(0), name == "endswith", name));
  }
  if (name == "replace") {
    ArgParser parser(method, args, {"old", "new", "count"});
    return result(py_replace(text, escaped_arg(self, parser.get(0), name), escaped_arg(self, parser.get(1), name),
                             parser.get_int(2, -1), evaluator.limits().max_output_bytes));
  }
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex") {
    ArgParser parser(method, args, {"sub"});
    int64_t position = py_find(text, string_arg(parser.get(0), name), name[0] == 'r');
    if (position < 0 && (name == "index" || name == "rindex")) runtime_fail("substring not found");
    return Value(position);
  }
  if (name == "count") {
    ArgParser parser(method, args, {"sub"});
    return Value(py_count(text, string_arg(parser.get(0), name)));
  }
  if (name == "join") {
    ArgParser parser(method, args, {"iterable"});
    std::string out;
    bool first = true;
    for (const Value& item : iterate(parser.get(0))) {
      if (!item.is_string()) runtime_fail("sequence item: expected str instance, {} found", type_name(item));
      if (!first) out += text;
      out += escaped_arg(self, item, name);
      first = false;
      evaluator.check_string_size(out.size());
    }
    return result(std::move(out));
  }
  if (name == "format") {
    CallArgs escaped = args;
    if (safe) {
      for (Value& arg : escaped.positional) arg = Value(html_escape(to_str(arg)), true);
      for (auto& entry : escaped.keyword) entry.second = Value(html_escape(to_str(entry.second)), true);
    }
    return result(brace_format(text, escaped, evaluator.limits().max_output_bytes));
  }
  if (name == "upper") return result(upper(text));
  if (name == "lower" || name == "casefold") return result(lower(text));
  if (name == "title") return result(py_title(text));
  if (name == "capitalize") return result(py_capitalize(text));
  if (name == "swapcase") {
    std::u32string chars = unicode::decode(text);
    for (char32_t& c : chars) c = unicode::to_upper(c) != c ? unicode::to_upper(c) : unicode::to_lower(c);
    return result(unicode::encode(chars));
  }
  if (name == "center" || name == "ljust" || name == "rjust") {
    ArgParser parser(method, args, {"width", "fillchar"});
    int64_t width = parser.get_int(0, 0);
    evaluator.check_string_size(static_cast<size_t>(std::max<int64_t>(width, 0)));
    return result(pad(text, width, parser.get(1), name == "ljust" ? -1 : name == "rjust" ? 1 : 0));
  }
  if (name == "zfill") {
    ArgParser parser(method, args, {"width"});
    int64_t width = parser.get_int(0, 0);
    evaluator.check_string_size(static_cast<size_t>(std::max<int64_t>(width, 0)));
    bool sign = !text.empty() && (text[0] == '-' || text[0] == '+');
    std::string padded = pad(sign ? text.substr(1) : text, width - (sign ? 1 : 0), Value("0"), 1);
    return result(sign ? text.substr(0, 1) + padded : padded);
  }
  if (name == "partition" || name == "rpartition") {
    ArgParser parser(method, args, {"sep"});
    const std::string& sep = string_arg(parser.get(0), name);
    if (sep.empty()) runtime_fail("empty separator");
    size_t found = name == "partition" ? text.find(sep) : text.rfind(sep);
    std::vector<Value> parts;
    if (found == std::string::npos) {
      parts = name == "partition" ? std::vector<Value>{Value(text, safe), Value("", safe), Value("", safe)}
                                  : std::vector<Value>{Value("", safe), Value("", safe), Value(text, safe)};
    } else {
      parts = {Value(text.substr(0, found), safe), Value(sep, safe), Value(text.substr(found + sep.size()), safe)};
    }
    return Value::tuple(std::move(parts));
  }
  if (name == "removeprefix" || name == "removesuffix") {
    ArgParser parser(method, args, {"affix"});
    const std::string& affix = string_arg(parser.get(0), name);
    if (name == "removeprefix") return result(text.rfind(affix, 0) == 0 ? text.substr(affix.size()) : text);
    bool ends = text.size() >= affix.size() && text.compare(text.size() - affix.size(), affix.size(), affix) == 0;
    return result(ends ? text.substr(0, text.size() - affix.size()) : text);
  }
  ArgParser parser(method, args, {});
  if (name == "isascii") return Value(unicode::is_ascii(text));
  if (name == "isspace") return Value(all_chars(text, unicode::is_python_space));
  if (name == "isalpha") return Value(all_chars(text, unicode::is_alpha));
  if (name == "isdigit" || name == "isdecimal" || name == "isnumeric") return Value(all_chars(text, unicode::is_decimal_digit));
  if (name == "isalnum") return Value(all_chars(text, [](char32_t c) { return unicode::is_alpha(c) || unicode::is_decimal_digit(c); }));
  std::u32string chars = unicode::decode(text);
  bool any_cased = std::any_of(chars.begin(), chars.end(), [](char32_t c) { return unicode::is_upper(c) || unicode::is_lower(c); });
  if (name == "isupper") return Value(any_cased && std::none_of(chars.begin(), chars.end(), unicode::is_lower));
  if (name == "islower") return Value(any_cased && std::none_of(chars.begin(), chars.end(), unicode::is_upper));
  runtime_fail("unsupported: str.{}()", name);
}

Value call_container_method(const Value& self, const std::string& name, CallArgs& args) {
  std::string method = type_name(self) + "." + name;
  if (self.kind() == Kind::Dict) {
    const DictData& dict = self.dict_data();
    if (name == "get") {
      ArgParser parser(method, args, {"key", "default"});
      Value key = parser.get(0);
      if (!is_hashable(key)) runtime_fail("unhashable type: '{}'", type_name(key));
      const Value* value = dict.find(key);
      return value ? *value : parser.get(1, Value::none());
    }
    ArgParser parser(method, args, {});
    if (name == "copy") return self;
    std::vector<Value> items;
    for (const auto& [key, value] : dict.entries) {
      if (name == "items") items.push_back(Value::tuple({key, value}));
      if (name == "keys") items.push_back(key);
      if (name == "values") items.push_back(value);
    }
    return Value::view(std::move(items), name == "items" ? "dict_items" : name == "keys" ? "dict_keys" : "dict_values");
  }
  if (name == "copy") {
    ArgParser parser(method, args, {});
    return Value::list(self.items());
  }
  ArgParser parser(method, args, {"value"});
  Value needle = parser.get(0);
  const auto& items = self.items();
  if (name == "count")
    return Value(static_cast<int64_t>(
        std::count_if(items.begin(), items.end(), [&](const Value& item) { return equals(item, needle); })));
  for (size_t i = 0; i < items.size(); ++i) {
    if (equals(items[i], needle)) return Value(static_cast<int64_t>(i));
  }
  runtime_fail("{} is not in {}", to_repr(needle), type_name(self));
}

Value unsafe(const Value& object, const std::string& name) {
  return Value::undefined(fmt::format("access to attribute '{}' of '{}' object is unsafe.", name, type_name(object)));
}

}  // namespace

Value find_method(const Value& object, const std::string& name) {
  switch (object.kind()) {
    case Kind::String:
      if (kUnsupportedStrMethods.count(name)) {
        return Value::native(name,
                             [name](Evaluator&, CallArgs&) -> Value { runtime_fail("unsupported: str.{}()", name); });
      }
      if (!kStrMethods.count(name)) return Value();
      return Value::native(name, [object, name](Evaluator& evaluator, CallArgs& args) {
        RenderBudget::charge_read(object);
        for (const Value& arg : args.positional) RenderBudget::charge_read(arg);
        return call_str_method(evaluator, object, name, args);
      });
    case Kind::Dict:
      if (kMutatingDictMethods.count(name)) return unsafe(object, name);
      if (name != "get" && name != "items" && name != "keys" && name != "values" && name != "copy") return Value();
      break;
    case Kind::List:
      if (is_range(object)) {
        const ListData& range = object.list_data();
        if (name == "start") return Value(range.range_start);
        if (name == "stop") return Value(range.range_stop);
        if (name == "step") return Value(range.range_step);
        if (name != "count" && name != "index") return Value();
        break;
      }
      if (object.list_data().type_name) return Value();
      if (kMutatingListMethods.count(name)) return unsafe(object, name);
      if (name != "count" && name != "index" && name != "copy") return Value();
      break;
    case Kind::Tuple:
      if (name != "count" && name != "index") return Value();
      break;
    case Kind::Bool:
    case Kind::Int:
    case Kind::Float:  // data attributes of Python numbers
      if (name == "real") return object.kind() == Kind::Float ? object : Value(object.integer());
      if (name == "imag") return object.kind() == Kind::Float ? Value(0.0) : Value(int64_t{0});
      return Value();
    default:
      return Value();
  }
  return Value::native(name, [object, name](Evaluator&, CallArgs& args) {
    RenderBudget::charge_read(object);
    return call_container_method(object, name, args);
  });
}

}  // namespace flotilla::chat
