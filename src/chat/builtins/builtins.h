// Lookup of Jinja's built-in filters, tests and globals and of Python's str/dict/list methods,
// with the argument binding and index/slice rules they share with the evaluator.
#pragma once
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "chat/ast.h"
#include "chat/value.h"

namespace flotilla::chat {

enum class Availability { Supported, Unsupported, Unknown };

// Unsupported: jinja2 has it but this interpreter does not; the parser turns that into an error.
FilterFunction find_filter(std::string_view name, Availability* availability);
TestFunction find_test(std::string_view name, Availability* availability);

// The globals of transformers' environment: range, dict, namespace, raise_exception, strftime_now...
std::vector<std::pair<std::string, Value>> global_functions();

// `obj.name` for a Python method of a str, dict or list (bound to obj) or a number's real/imag;
// undefined otherwise (with a hint for the refused mutating methods).
Value find_method(const Value& object, const std::string& name);

// Binds filter/method arguments Python-style: positionals first, then keywords by name.
class ArgParser {
 public:
  ArgParser(std::string_view function, const CallArgs& args, std::initializer_list<std::string_view> names);
  bool has(size_t index) const { return values_[index] != nullptr; }
  Value get(size_t index, Value fallback = Value()) const { return has(index) ? *values_[index] : fallback; }
  int64_t get_int(size_t index, int64_t fallback) const;
  bool get_bool(size_t index, bool fallback) const { return has(index) ? truthy(*values_[index]) : fallback; }

 private:
  std::string function_;
  std::vector<const Value*> values_;
};

// PySlice_AdjustIndices: seq[start:stop:step] clamped for a sequence of `size`.
struct SliceBounds {
  int64_t start, stop, step;
};
SliceBounds adjust_slice(int64_t size, const Value& start, const Value& stop, const Value& step);
// The positions selected by seq[start:stop:step] for a sequence of `size`.
std::vector<int64_t> slice_positions(int64_t size, const Value& start, const Value& stop, const Value& step);
// seq[index] for str/list/tuple with Python's negative indices; undefined when out of range.
Value index_sequence(const Value& sequence, int64_t index);
Value slice_sequence(const Value& sequence, const Value& start, const Value& stop, const Value& step);

}  // namespace flotilla::chat
