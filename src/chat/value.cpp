// Value construction, Python equality/ordering/iteration, and JSON input.
#include "chat/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "chat/limits.h"
#include "unicode/properties.h"
#include "unicode/utf8.h"

namespace flotilla::chat {

namespace {

struct NativeCallable final : Callable {
  NativeCallable(std::string name, NativeFunction function)
      : Callable(std::move(name)), function_(std::move(function)) {}
  Value call(Evaluator& evaluator, CallArgs& args) const override { return function_(evaluator, args); }
  NativeFunction function_;
};

// Python compares an int and a float exactly, not by converting the int to double.
bool int_equals_float(int64_t i, double f) {
  if (std::isnan(f) || std::isinf(f) || std::floor(f) != f) return false;
  if (f < -9.2233720368547758e18 || f >= 9.2233720368547758e18) return false;
  return static_cast<int64_t>(f) == i;
}

int compare_numbers(const Value& a, const Value& b) {
  if (a.is_integer() && b.is_integer()) return a.integer() < b.integer() ? -1 : a.integer() > b.integer() ? 1 : 0;
  if (a.is_integer() && int_equals_float(a.integer(), b.number())) return 0;
  if (b.is_integer() && int_equals_float(b.integer(), a.number())) return 0;
  double x = a.number();
  double y = b.number();
  return x < y ? -1 : x > y ? 1 : 0;
}

Value from_json_at(const nlohmann::ordered_json& json, int depth) {
  if (depth > kMaxValueDepth) runtime_fail("context JSON nests deeper than {} levels", kMaxValueDepth);
  switch (json.type()) {
    case nlohmann::ordered_json::value_t::null:
      return Value::none();
    case nlohmann::ordered_json::value_t::boolean:
      return Value(json.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer:
      return Value(json.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      uint64_t number = json.get<uint64_t>();
      if (number > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        runtime_fail("unsupported: integer {} in the context exceeds 64 bits", number);
      }
      return Value(static_cast<int64_t>(number));
    }
    case nlohmann::ordered_json::value_t::number_float:
      return Value(json.get<double>());
    case nlohmann::ordered_json::value_t::string:
      return Value(json.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      std::vector<Value> items;
      items.reserve(json.size());
      for (const auto& item : json) items.push_back(from_json_at(item, depth + 1));
      return Value::list(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      auto dict = std::make_shared<DictData>();
      dict->entries.reserve(json.size());
      for (const auto& [key, item] : json.items())
        dict->entries.emplace_back(Value(key), from_json_at(item, depth + 1));
      finish_container(*dict);
      return Value::dict(std::move(dict));
    }
    default:
      runtime_fail("unsupported JSON value of type {} in the context", json.type_name());
  }
}

}  // namespace

size_t DictData::index_of(std::string_view key) const {
  constexpr size_t kLinearScanLimit = 16;
  if (entries.size() <= kLinearScanLimit) {
    for (size_t i = 0; i < entries.size(); ++i) {
      if (entries[i].first.is_string() && entries[i].first.str() == key) return i;
    }
    return entries.size();
  }
  for (; indexed_entries_ < entries.size(); ++indexed_entries_) {
    const Value& entry_key = entries[indexed_entries_].first;
    if (entry_key.is_string()) string_index_.emplace(entry_key.str(), indexed_entries_);
  }
  auto it = string_index_.find(key);
  return it == string_index_.end() ? entries.size() : it->second;
}

const Value* DictData::find(std::string_view key) const {
  size_t index = index_of(key);
  return index < entries.size() ? &entries[index].second : nullptr;
}

const Value* DictData::find(const Value& key) const {
  if (key.is_string()) return find(std::string_view(key.str()));
  for (const auto& [k, v] : entries) {
    if (equals(k, key)) return &v;
  }
  return nullptr;
}

void DictData::set(Value key, Value value) {
  if (key.is_string()) {
    size_t index = index_of(key.str());
    if (index < entries.size()) {
      entries[index].second = std::move(value);
    } else {
      entries.emplace_back(std::move(key), std::move(value));
    }
    return;
  }
  for (auto& entry : entries) {
    if (equals(entry.first, key)) {
      entry.second = std::move(value);
      return;
    }
  }
  entries.emplace_back(std::move(key), std::move(value));
}

Value Value::undefined(std::string hint) {
  Value v;
  v.data_ = std::make_shared<const std::string>(std::move(hint));
  return v;
}

Value Value::none() {
  Value v;
  v.kind_ = Kind::None;
  return v;
}

Value::Value(bool value) : kind_(Kind::Bool), data_(value) {}
Value::Value(int64_t value) : kind_(Kind::Int), data_(value) {}
Value::Value(double value) : kind_(Kind::Float), data_(value) {}
Value::Value(std::string value, bool safe)
    : kind_(Kind::String), safe_(safe), data_(std::make_shared<const std::string>(std::move(value))) {
  RenderBudget::charge(1 + static_cast<int64_t>(str().size() / 64));
}

Value Value::list(std::vector<Value> items) {
  Value v;
  v.kind_ = Kind::List;
  auto data = std::make_shared<ListData>();
  data->items = std::move(items);
  finish_container(*data);
  v.data_ = std::move(data);
  return v;
}

Value Value::tuple(std::vector<Value> items) {
  Value v = list(std::move(items));
  v.kind_ = Kind::Tuple;
  return v;
}

Value Value::iterator(std::vector<Value> items, const char* type_name) {
  Value v = list(std::move(items));
  v.kind_ = Kind::Iterator;
  v.list_data().type_name = type_name;
  return v;
}

Value Value::view(std::vector<Value> items, const char* type_name) {
  Value v = list(std::move(items));
  v.list_data().type_name = type_name;
  return v;
}

Value make_range(int64_t start, int64_t stop, int64_t step) {
  std::vector<Value> items;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) items.emplace_back(i);
  Value range = Value::view(std::move(items), "range");
  range.list_data().range_start = start;
  range.list_data().range_stop = stop;
  range.list_data().range_step = step;
  return range;
}

bool is_range(const Value& value) {
  return value.kind() == Kind::List && value.list_data().type_name &&
         std::string_view(value.list_data().type_name) == "range";
}

Value Value::dict(std::shared_ptr<DictData> data) {
  Value v;
  v.kind_ = Kind::Dict;
  v.data_ = std::move(data);
  return v;
}

Value Value::make_namespace(std::shared_ptr<DictData> data) {
  Value v = dict(std::move(data));
  v.kind_ = Kind::Namespace;
  return v;
}

Value Value::native(std::string name, NativeFunction function) {
  return callable(std::make_shared<NativeCallable>(std::move(name), std::move(function)));
}

Value Value::callable(std::shared_ptr<const Callable> callable) {
  Value v;
  v.kind_ = Kind::Callable;
  v.data_ = std::move(callable);
  return v;
}

int64_t Value::integer() const { return kind_ == Kind::Bool ? (boolean() ? 1 : 0) : std::get<int64_t>(data_); }

double Value::number() const { return kind_ == Kind::Float ? std::get<double>(data_) : static_cast<double>(integer()); }

const std::string& Value::undefined_hint() const {
  static const std::string kEmpty;
  auto* hint = std::get_if<std::shared_ptr<const std::string>>(&data_);
  return hint ? **hint : kEmpty;
}

const void* Value::identity() const {
  return std::visit(
      [](const auto& data) -> const void* {
        using T = std::decay_t<decltype(data)>;
        if constexpr (std::is_same_v<T, std::shared_ptr<const std::string>> ||
                      std::is_same_v<T, std::shared_ptr<ListData>> || std::is_same_v<T, std::shared_ptr<DictData>> ||
                      std::is_same_v<T, std::shared_ptr<const Callable>>) {
          return data.get();
        } else {
          return nullptr;
        }
      },
      data_);
}

int Value::depth() const {
  switch (kind_) {
    case Kind::List:
    case Kind::Tuple:
    case Kind::Iterator:
      return list_data().depth;
    case Kind::Dict:
    case Kind::Namespace:
      return dict_data().depth;
    default:
      return 0;
  }
}

void finish_container(ListData& data) {
  RenderBudget::charge(1 + static_cast<int64_t>(data.items.size()));
  int depth = 0;
  bool has_namespace = false;
  for (const Value& item : data.items) {
    depth = std::max(depth, item.depth());
    has_namespace |= item.kind() == Kind::Namespace ||
                     ((item.is_sequence_like() || item.kind() == Kind::Iterator) && item.list_data().has_namespace) ||
                     (item.kind() == Kind::Dict && item.dict_data().has_namespace);
  }
  if (depth + 1 > kMaxValueDepth) runtime_fail("value nesting exceeds {} levels", kMaxValueDepth);
  data.depth = depth + 1;
  data.has_namespace = has_namespace;
}

void finish_container(DictData& data) {
  ListData values;
  values.items.reserve(data.entries.size());
  for (const auto& entry : data.entries) values.items.push_back(entry.second);
  finish_container(values);
  data.depth = values.depth;
  data.has_namespace = values.has_namespace;
}

bool truthy(const Value& v) {
  switch (v.kind()) {
    case Kind::Undefined:
    case Kind::None:
      return false;
    case Kind::Bool:
      return v.boolean();
    case Kind::Int:
      return v.integer() != 0;
    case Kind::Float:
      return v.number() != 0.0;
    case Kind::String:
      return !v.str().empty();
    case Kind::List:
    case Kind::Tuple:
      return !v.items().empty();
    case Kind::Dict:
      return v.dict_data().read_only || !v.dict_data().entries.empty();
    default:
      return true;
  }
}

std::string type_name(const Value& v) {
  switch (v.kind()) {
    case Kind::Undefined:
      return "Undefined";
    case Kind::None:
      return "NoneType";
    case Kind::Bool:
      return "bool";
    case Kind::Int:
      return "int";
    case Kind::Float:
      return "float";
    case Kind::String:
      return v.is_safe() ? "Markup" : "str";
    case Kind::List:
      return v.list_data().type_name ? v.list_data().type_name : "list";
    case Kind::Tuple:
      return "tuple";
    case Kind::Iterator:
      return v.list_data().type_name;
    case Kind::Dict:
      return v.dict_data().read_only ? "LoopContext" : "dict";
    case Kind::Namespace:
      return "Namespace";
    case Kind::Callable:
      return "function";
  }
  return "object";
}

bool equals(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) return compare_numbers(a, b) == 0;
  if (a.kind() != b.kind()) return false;
  if (a.identity() && a.identity() == b.identity()) return true;  // Python compares identical items as equal
  switch (a.kind()) {
    case Kind::Undefined:
    case Kind::None:
      return true;
    case Kind::String:
      return a.str() == b.str();
    case Kind::List:
    case Kind::Tuple: {
      bool both_ranges = is_range(a) && is_range(b);  // Python compares ranges as sequences
      if (!both_ranges && (a.list_data().type_name || b.list_data().type_name)) return a.identity() == b.identity();
      RenderBudget::charge_read(a);
      const auto& x = a.items();
      const auto& y = b.items();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i) {
        if (!equals(x[i], y[i])) return false;
      }
      return true;
    }
    case Kind::Dict: {
      const auto& x = a.dict_data();
      const auto& y = b.dict_data();
      if (x.read_only || y.read_only) return &x == &y;
      if (x.entries.size() != y.entries.size()) return false;
      RenderBudget::charge(static_cast<int64_t>(x.entries.size() * (1 + x.entries.size() / 8)));
      for (const auto& [key, value] : x.entries) {
        const Value* other = y.find(key);
        if (!other || !equals(value, *other)) return false;
      }
      return true;
    }
    default:
      return a.identity() == b.identity();
  }
}

int compare(const Value& a, const Value& b, std::string_view op) {
  if (a.is_number() && b.is_number()) return compare_numbers(a, b);
  if (a.is_string() && b.is_string()) return a.str().compare(b.str()) < 0 ? -1 : a.str() == b.str() ? 0 : 1;
  bool same_sequence =
      a.kind() == b.kind() && a.is_sequence_like() && !a.list_data().type_name && !b.list_data().type_name;
  if (same_sequence) {
    const auto& x = a.items();
    const auto& y = b.items();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (!equals(x[i], y[i])) return compare(x[i], y[i], op);
    }
    return x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0;
  }
  runtime_fail("'{}' not supported between instances of '{}' and '{}'", op, type_name(a), type_name(b));
}

bool is_hashable(const Value& v) {
  switch (v.kind()) {
    case Kind::List:
    case Kind::Dict:
      return false;
    case Kind::Tuple:
      return std::all_of(v.items().begin(), v.items().end(), is_hashable);
    default:
      return true;
  }
}

std::vector<Value> iterate(const Value& v) {
  switch (v.kind()) {
    case Kind::Undefined:
      return {};
    case Kind::String: {
      std::vector<Value> chars;
      if (unicode::is_ascii(v.str())) {
        for (char c : v.str()) chars.emplace_back(std::string(1, c));
      } else {
        for (char32_t c : unicode::decode(v.str())) chars.emplace_back(unicode::encode(std::u32string(1, c)));
      }
      return chars;
    }
    case Kind::List:
    case Kind::Tuple:
      RenderBudget::charge(static_cast<int64_t>(v.items().size()));
      return v.items();
    case Kind::Iterator: {
      if (v.list_data().consumed) return {};
      v.list_data().consumed = true;
      RenderBudget::charge(static_cast<int64_t>(v.items().size()));
      return v.items();
    }
    case Kind::Dict: {
      if (v.dict_data().read_only) runtime_fail("unsupported: iterating the loop object");
      std::vector<Value> keys;
      keys.reserve(v.dict_data().entries.size());
      for (const auto& entry : v.dict_data().entries) keys.push_back(entry.first);
      return keys;
    }
    default:
      runtime_fail("'{}' object is not iterable", type_name(v));
  }
}

int64_t length(const Value& v) {
  switch (v.kind()) {
    case Kind::Undefined:
      return 0;
    case Kind::String:
      return static_cast<int64_t>(unicode::count_code_points(v.str()));
    case Kind::List:
    case Kind::Tuple:
      return static_cast<int64_t>(v.items().size());
    case Kind::Dict:
      if (!v.dict_data().read_only) return static_cast<int64_t>(v.dict_data().entries.size());
      [[fallthrough]];
    default:
      runtime_fail("object of type '{}' has no len()", type_name(v));
  }
}

Value from_json(const nlohmann::ordered_json& json) { return from_json_at(json, 0); }

}  // namespace flotilla::chat
