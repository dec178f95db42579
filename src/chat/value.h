// Dynamic values of the Jinja interpreter, with the Python semantics jinja2 inherits:
// str(), repr(), ==, ordering, truthiness, len() and iteration.
#pragma once
#include <fmt/format.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace flotilla::chat {

class Evaluator;
class Value;

// A runtime error inside a template; the evaluator prefixes the position of the failing node.
struct TemplateError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <typename... Args>
[[noreturn]] void runtime_fail(fmt::format_string<Args...> format, Args&&... args) {
  throw TemplateError(fmt::format(format, std::forward<Args>(args)...));
}

enum class Kind { Undefined, None, Bool, Int, Float, String, List, Tuple, Iterator, Dict, Namespace, Callable };

struct ListData {
  std::vector<Value> items;
  int depth = 1;
  bool has_namespace = false;
  // Python type name when this is not a plain list/tuple: "dict_items" views, "generator" iterators.
  const char* type_name = nullptr;
  bool consumed = false;                                    // iterators can be iterated once, like Python generators
  int64_t range_start = 0, range_stop = 0, range_step = 1;  // when type_name is "range"
};

struct DictData {
  std::vector<std::pair<Value, Value>> entries;
  int depth = 1;
  bool has_namespace = false;
  bool read_only = false;  // the `loop` object

  const Value* find(const Value& key) const;
  const Value* find(std::string_view key) const;
  void set(Value key, Value value);  // replaces an equal key in place, else appends

 private:
  size_t index_of(std::string_view key) const;  // entries.size() when absent
  // Hash index of string keys for large dicts, extended lazily (entries are only ever appended).
  mutable std::unordered_map<std::string_view, size_t> string_index_;
  mutable size_t indexed_entries_ = 0;
};

struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

class Callable {
 public:
  explicit Callable(std::string name) : name_(std::move(name)) {}
  virtual ~Callable() = default;
  virtual Value call(Evaluator& evaluator, CallArgs& args) const = 0;
  const std::string& name() const { return name_; }

 private:
  std::string name_;
};

using NativeFunction = std::function<Value(Evaluator&, CallArgs&)>;

class Value {
 public:
  Value() = default;  // undefined
  static Value undefined(std::string hint);
  static Value none();
  Value(bool value);
  Value(int value) : Value(static_cast<int64_t>(value)) {}
  Value(int64_t value);
  Value(double value);
  Value(std::string value, bool safe = false);
  Value(const char* value) : Value(std::string(value)) {}
  static Value list(std::vector<Value> items);
  static Value tuple(std::vector<Value> items);
  static Value iterator(std::vector<Value> items, const char* type_name = "generator");
  static Value view(std::vector<Value> items, const char* type_name);  // dict_items, dict_keys, ...
  static Value dict(std::shared_ptr<DictData> data);
  static Value make_namespace(std::shared_ptr<DictData> data);
  static Value native(std::string name, NativeFunction function);
  static Value callable(std::shared_ptr<const Callable> callable);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::Undefined; }
  bool is_none() const { return kind_ == Kind::None; }
  bool is_string() const { return kind_ == Kind::String; }
  bool is_integer() const { return kind_ == Kind::Int || kind_ == Kind::Bool; }  // Python bool is an int
  bool is_number() const { return is_integer() || kind_ == Kind::Float; }
  bool is_sequence_like() const { return kind_ == Kind::List || kind_ == Kind::Tuple; }
  bool is_mapping() const { return kind_ == Kind::Dict; }
  bool is_safe() const { return safe_; }

  bool boolean() const { return std::get<bool>(data_); }
  int64_t integer() const;  // Int or Bool
  double number() const;    // Int, Bool or Float as double
  const std::string& str() const { return *std::get<std::shared_ptr<const std::string>>(data_); }
  const std::string& undefined_hint() const;
  ListData& list_data() const { return *std::get<std::shared_ptr<ListData>>(data_); }
  const std::vector<Value>& items() const { return list_data().items; }
  DictData& dict_data() const { return *std::get<std::shared_ptr<DictData>>(data_); }
  const Callable& callable_ref() const { return *std::get<std::shared_ptr<const Callable>>(data_); }
  const void* identity() const;  // for `is sameas` and namespace cycle checks
  int depth() const;

 private:
  Kind kind_ = Kind::Undefined;
  bool safe_ = false;  // markupsafe.Markup: concatenation escapes the other operand
  std::variant<std::monostate, bool, int64_t, double, std::shared_ptr<const std::string>, std::shared_ptr<ListData>,
               std::shared_ptr<DictData>, std::shared_ptr<const Callable>>
      data_;
};

// Computes depth/has_namespace of a container from its items and enforces kMaxValueDepth.
void finish_container(ListData& data);
void finish_container(DictData& data);

// A Python range: a list-like sequence that prints as range(...) and slices into a range.
Value make_range(int64_t start, int64_t stop, int64_t step);
bool is_range(const Value& value);

bool truthy(const Value& value);
std::string type_name(const Value& value);
// Python str() and repr(); undefined prints as "". Results longer than max_bytes (or the
// render's max_output_bytes) are an error.
std::string to_str(const Value& value, size_t max_bytes = SIZE_MAX);
std::string to_repr(const Value& value, size_t max_bytes = SIZE_MAX);
std::string python_float_repr(double value);
bool equals(const Value& a, const Value& b);
// <0, 0, >0 like Python's ordering; TemplateError naming `op` where Python raises TypeError.
int compare(const Value& a, const Value& b, std::string_view op = "<");
bool is_hashable(const Value& value);
// Python iter(): strings yield characters, dicts their keys; iterators are consumed.
std::vector<Value> iterate(const Value& value);
int64_t length(const Value& value);  // Python len()
// markupsafe.escape: & < > ' " become entities.
std::string html_escape(std::string_view text);

Value from_json(const nlohmann::ordered_json& json);

struct JsonDumpOptions {
  bool ensure_ascii = false;
  bool has_indent = false;
  std::string indent;  // one level of indentation
  std::string item_separator = ", ";
  std::string key_separator = ": ";
  bool sort_keys = false;
  size_t max_bytes = SIZE_MAX;  // longer output is an error
};
// Python json.dumps, as transformers' `tojson` filter calls it.
std::string to_json(const Value& value, const JsonDumpOptions& options);

}  // namespace flotilla::chat
