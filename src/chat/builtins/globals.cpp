// Global functions of transformers' template environment, Python-style argument binding and
// Python's index/slice rules.
#include <algorithm>
#include <cmath>
#include <ctime>

#include "chat/builtins/builtins.h"
#include "chat/evaluator.h"
#include "chat/limits.h"
#include "unicode/properties.h"
#include "unicode/utf8.h"

namespace flotilla::chat {

namespace {

int64_t slice_index(const Value& value) {
  if (!value.is_integer()) runtime_fail("slice indices must be integers or None, not {}", type_name(value));
  return value.integer();
}

Value range_function(Evaluator& evaluator, CallArgs& args) {
  if (!args.keyword.empty()) runtime_fail("range() takes no keyword arguments");
  if (args.positional.empty() || args.positional.size() > 3) {
    runtime_fail("range expected 1 to 3 arguments, got {}", args.positional.size());
  }
  for (const Value& arg : args.positional) {
    if (!arg.is_integer()) runtime_fail("'{}' object cannot be interpreted as an integer", type_name(arg));
  }
  int64_t start = args.positional.size() > 1 ? args.positional[0].integer() : 0;
  int64_t stop = args.positional.size() > 1 ? args.positional[1].integer() : args.positional[0].integer();
  int64_t step = args.positional.size() > 2 ? args.positional[2].integer() : 1;
  if (step == 0) runtime_fail("range() arg 3 must not be zero");
  long double span = step > 0 ? static_cast<long double>(stop) - start : static_cast<long double>(start) - stop;
  long double count =
      span <= 0 ? 0 : (span + std::abs(static_cast<long double>(step)) - 1) / std::abs(static_cast<long double>(step));
  if (count > kMaxRange) {
    runtime_fail("range too big: the sandbox blocks ranges larger than MAX_RANGE ({})", kMaxRange);
  }
  evaluator.check_list_size(static_cast<size_t>(count));
  return make_range(start, stop, step);
}

// dict(mapping or pairs, **kwargs) and namespace(...) share Python's dict() argument rules.
std::shared_ptr<DictData> dict_from_args(CallArgs& args, const char* function) {
  auto dict = std::make_shared<DictData>();
  if (args.positional.size() > 1)
    runtime_fail("{} expected at most 1 argument, got {}", function, args.positional.size());
  if (!args.positional.empty()) {
    const Value& source = args.positional[0];
    if (source.kind() == Kind::Dict || source.kind() == Kind::Namespace) {
      for (const auto& entry : source.dict_data().entries) dict->set(entry.first, entry.second);
    } else {
      for (const Value& pair : iterate(source)) {
        std::vector<Value> parts = iterate(pair);
        if (parts.size() != 2)
          runtime_fail("dictionary update sequence element has length {}; 2 is required", parts.size());
        if (!is_hashable(parts[0])) runtime_fail("unhashable type: '{}'", type_name(parts[0]));
        dict->set(parts[0], parts[1]);
      }
    }
  }
  for (auto& [key, value] : args.keyword) dict->set(Value(key), value);
  finish_container(*dict);
  return dict;
}

Value strftime_now(Evaluator&, CallArgs& args) {
  ArgParser parser("strftime_now", args, {"format"});
  Value format = parser.get(0);
  if (!format.is_string()) runtime_fail("strftime_now() argument must be str, not {}", type_name(format));
  if (format.str().empty()) return Value(std::string());
  std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  for (size_t size = 256; size <= 65536; size *= 4) {
    std::string buffer(size, '\0');
    size_t written = std::strftime(buffer.data(), buffer.size(), format.str().c_str(), &local);
    if (written > 0) return Value(buffer.substr(0, written));
  }
  return Value(std::string());
}

Value unsupported_global(const char* name) {
  return Value::native(name, [name](Evaluator&, CallArgs&) -> Value { runtime_fail("unsupported: {}()", name); });
}

}  // namespace

ArgParser::ArgParser(std::string_view function, const CallArgs& args, std::initializer_list<std::string_view> names)
    : function_(function), values_(names.size(), nullptr) {
  if (args.positional.size() > names.size()) {
    runtime_fail("{}() takes at most {} argument(s) ({} given)", function_, names.size(), args.positional.size());
  }
  for (size_t i = 0; i < args.positional.size(); ++i) values_[i] = &args.positional[i];
  for (const auto& [key, value] : args.keyword) {
    size_t index = 0;
    for (std::string_view name : names) {
      if (name == key) break;
      ++index;
    }
    if (index == names.size()) runtime_fail("{}() got an unexpected keyword argument '{}'", function_, key);
    if (values_[index]) runtime_fail("{}() got multiple values for argument '{}'", function_, key);
    values_[index] = &value;
  }
}

int64_t ArgParser::get_int(size_t index, int64_t fallback) const {
  if (!has(index)) return fallback;
  if (!values_[index]->is_integer()) {
    runtime_fail("{}(): expected an integer argument, got {}", function_, type_name(*values_[index]));
  }
  return values_[index]->integer();
}

SliceBounds adjust_slice(int64_t size, const Value& start_value, const Value& stop_value, const Value& step_value) {
  int64_t step = step_value.is_none() ? 1 : slice_index(step_value);
  if (step == 0) runtime_fail("slice step cannot be zero");
  auto clamp = [&](const Value& value, int64_t fallback) {
    if (value.is_none()) return fallback;
    int64_t index = slice_index(value);
    if (index < 0) index = std::max<int64_t>(index + size, step > 0 ? 0 : -1);
    if (index >= size) index = step > 0 ? size : size - 1;
    return index;
  };
  return {clamp(start_value, step > 0 ? 0 : size - 1), clamp(stop_value, step > 0 ? size : -1), step};
}

std::vector<int64_t> slice_positions(int64_t size, const Value& start, const Value& stop, const Value& step) {
  SliceBounds bounds = adjust_slice(size, start, stop, step);
  std::vector<int64_t> positions;
  for (int64_t i = bounds.start; bounds.step > 0 ? i < bounds.stop : i > bounds.stop; i += bounds.step) {
    positions.push_back(i);
  }
  return positions;
}

Value index_sequence(const Value& sequence, int64_t index) {
  bool ascii = sequence.is_string() && unicode::is_ascii(sequence.str());
  std::u32string chars = sequence.is_string() && !ascii ? unicode::decode(sequence.str()) : std::u32string();
  int64_t size = sequence.is_string()
                     ? (ascii ? static_cast<int64_t>(sequence.str().size()) : static_cast<int64_t>(chars.size()))
                     : static_cast<int64_t>(sequence.items().size());
  int64_t position = index < 0 ? index + size : index;
  if (position < 0 || position >= size) return Value::undefined(missing_hint(sequence, Value(index)));
  if (!sequence.is_string()) return sequence.items()[position];
  if (ascii) return Value(sequence.str().substr(position, 1), sequence.is_safe());
  return Value(unicode::encode(chars.substr(position, 1)), sequence.is_safe());
}

Value slice_sequence(const Value& sequence, const Value& start, const Value& stop, const Value& step) {
  if (sequence.is_string()) {
    std::u32string chars = unicode::decode(sequence.str());
    std::u32string out;
    for (int64_t i : slice_positions(static_cast<int64_t>(chars.size()), start, stop, step)) out.push_back(chars[i]);
    return Value(unicode::encode(out), sequence.is_safe());
  }
  const auto& items = sequence.items();
  if (is_range(sequence)) {  // CPython's compute_slice: a range of the selected elements
    const ListData& range = sequence.list_data();
    SliceBounds bounds = adjust_slice(static_cast<int64_t>(items.size()), start, stop, step);
    return make_range(range.range_start + bounds.start * range.range_step,
                      range.range_start + bounds.stop * range.range_step, range.range_step * bounds.step);
  }
  std::vector<Value> out;
  for (int64_t i : slice_positions(static_cast<int64_t>(items.size()), start, stop, step)) out.push_back(items[i]);
  return sequence.kind() == Kind::Tuple ? Value::tuple(std::move(out)) : Value::list(std::move(out));
}

std::vector<std::pair<std::string, Value>> global_functions() {
  std::vector<std::pair<std::string, Value>> globals;
  globals.emplace_back("range", Value::native("range", range_function));
  globals.emplace_back("dict", Value::native("dict", [](Evaluator&, CallArgs& args) {
                         return Value::dict(dict_from_args(args, "dict"));
                       }));
  globals.emplace_back("namespace", Value::native("namespace", [](Evaluator&, CallArgs& args) {
                         auto attributes = dict_from_args(args, "namespace");
                         if (attributes->has_namespace)
                           runtime_fail("unsupported: storing a namespace inside a namespace");
                         return Value::make_namespace(std::move(attributes));
                       }));
  globals.emplace_back("raise_exception", Value::native("raise_exception", [](Evaluator&, CallArgs& args) -> Value {
                         ArgParser parser("raise_exception", args, {"message"});
                         runtime_fail("raise_exception: {}", to_str(parser.get(0)));
                       }));
  globals.emplace_back("strftime_now", Value::native("strftime_now", strftime_now));
  for (const char* name : {"lipsum", "cycler", "joiner", "self"}) globals.emplace_back(name, unsupported_global(name));
  return globals;
}

}  // namespace flotilla::chat
