// Sequence filters of jinja2 3.1. map/select/reject/items/unique/batch/slice return one-shot
// iterators like jinja's generators, so `|length` on them fails and `|list` is needed, as in Python.
#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <unordered_set>

#include "chat/builtins/builtins.h"
#include "chat/builtins/filters_sequence.h"
#include "chat/builtins/string_ops.h"
#include "chat/evaluator.h"
#include "chat/limits.h"
#include "unicode/properties.h"
#include "unicode/utf8.h"

namespace flotilla::chat {

namespace {

Value ignore_case(const Value& value) { return value.is_string() ? Value(lower(value.str())) : value; }

// jinja's make_attrgetter: "a.b.0" walks items (getitem, falling back to attributes).
Value get_path(Evaluator& evaluator, const Value& item, const Value& attribute) {
  if (attribute.is_none() || attribute.is_undefined()) return item;
  if (!attribute.is_string()) return evaluator.get_item(item, attribute);
  Value current = item;
  size_t start = 0;
  const std::string& path = attribute.str();
  while (true) {
    size_t dot = path.find('.', start);
    std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    int64_t index = 0;
    auto parsed = std::from_chars(part.data(), part.data() + part.size(), index);
    bool numeric = !part.empty() && parsed.ec == std::errc() && parsed.ptr == part.data() + part.size();
    current = evaluator.get_item(current, numeric ? Value(index) : Value(part));
    if (dot == std::string::npos) return current;
    start = dot + 1;
  }
}

// Sort/min/max keys: attributes (comma-separated for sort), lowercased unless case_sensitive.
Value sort_key(Evaluator& evaluator, const Value& item, const Value& attribute, bool case_sensitive, bool multi) {
  auto key_of = [&](const Value& attr) {
    Value key = get_path(evaluator, item, attr);
    return case_sensitive ? key : ignore_case(key);
  };
  if (!multi || !attribute.is_string() || attribute.str().find(',') == std::string::npos) return key_of(attribute);
  std::vector<Value> keys;
  for (size_t start = 0;;) {
    size_t comma = attribute.str().find(',', start);
    keys.push_back(
        key_of(Value(attribute.str().substr(start, comma == std::string::npos ? std::string::npos : comma - start))));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return Value::list(std::move(keys));
}

std::vector<Value> sorted(Evaluator& evaluator, std::vector<Value> items, const Value& attribute, bool case_sensitive,
                          bool reverse, bool multi) {
  int64_t comparisons = 1;
  for (size_t n = items.size(); n > 1; n /= 2) comparisons += static_cast<int64_t>(items.size());
  RenderBudget::charge(comparisons);  // n log n
  std::vector<std::pair<Value, Value>> keyed;
  keyed.reserve(items.size());
  for (Value& item : items)
    keyed.emplace_back(sort_key(evaluator, item, attribute, case_sensitive, multi), std::move(item));
  // Python's sort with reverse=True keeps equal items in their original order, as this comparator does.
  std::stable_sort(keyed.begin(), keyed.end(), [reverse](const auto& a, const auto& b) {
    return reverse ? compare(b.first, a.first) < 0 : compare(a.first, b.first) < 0;
  });
  std::vector<Value> out;
  out.reserve(keyed.size());
  for (auto& entry : keyed) out.push_back(std::move(entry.second));
  return out;
}

Value filter_sort(Evaluator& evaluator, const Value& value, CallArgs& args) {
  ArgParser parser("sort", args, {"reverse", "case_sensitive", "attribute"});
  return Value::list(sorted(evaluator, iterate(value), parser.get(2, Value::none()), parser.get_bool(1, false),
                            parser.get_bool(0, false), /*multi=*/true));
}

Value filter_dictsort(Evaluator& evaluator, const Value& value, CallArgs& args) {
  ArgParser parser("dictsort", args, {"case_sensitive", "by", "reverse"});
  if (value.kind() != Kind::Dict || value.dict_data().read_only) runtime_fail("dictsort requires a mapping");
  std::string by = parser.has(1) ? to_str(parser.get(1)) : "key";
  if (by != "key" && by != "value") runtime_fail("You can only sort by either \"key\" or \"value\"");
  std::vector<Value> pairs;
  for (const auto& [key, item] : value.dict_data().entries) pairs.push_back(Value::tuple({key, item}));
  return Value::list(sorted(evaluator, std::move(pairs), Value(int64_t{by == "key" ? 0 : 1}), parser.get_bool(0, false),
                            parser.get_bool(2, false), /*multi=*/false));
}

Value min_or_max(Evaluator& evaluator, const Value& value, CallArgs& args, bool want_max) {
  ArgParser parser(want_max ? "max" : "min", args, {"case_sensitive", "attribute"});
  std::vector<Value> items = iterate(value);
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  bool case_sensitive = parser.get_bool(0, false);
  Value attribute = parser.get(1, Value::none());
  size_t best = 0;
  Value best_key = sort_key(evaluator, items[0], attribute, case_sensitive, false);
  for (size_t i = 1; i < items.size(); ++i) {
    Value key = sort_key(evaluator, items[i], attribute, case_sensitive, false);
    int order = compare(key, best_key);
    if (want_max ? order > 0 : order < 0) {
      best = i;
      best_key = key;
    }
  }
  return items[best];
}

Value filter_max(Evaluator& evaluator, const Value& value, CallArgs& args) {
  return min_or_max(evaluator, value, args, true);
}
Value filter_min(Evaluator& evaluator, const Value& value, CallArgs& args) {
  return min_or_max(evaluator, value, args, false);
}

Value filter_unique(Evaluator& evaluator, const Value& value, CallArgs& args) {
  ArgParser parser("unique", args, {"case_sensitive", "attribute"});
  bool case_sensitive = parser.get_bool(0, false);
  Value attribute = parser.get(1, Value::none());
  std::unordered_set<std::string> seen_strings;
  std::unordered_set<double> seen_numbers;  // Python hashes 1, 1.0 and True alike
  std::vector<Value> seen_other;
  std::vector<Value> out;
  for (const Value& item : iterate(value)) {
    Value key = sort_key(evaluator, item, attribute, case_sensitive, false);
    if (!is_hashable(key)) runtime_fail("unhashable type: '{}'", type_name(key));
    bool fresh;
    if (key.is_string()) {
      fresh = seen_strings.insert(key.str()).second;
    } else if (key.is_number() && (!key.is_integer() || std::llabs(key.integer()) < (int64_t{1} << 53))) {
      fresh = seen_numbers.insert(key.number()).second;
    } else {
      RenderBudget::charge(static_cast<int64_t>(seen_other.size()));
      fresh = std::none_of(seen_other.begin(), seen_other.end(), [&](const Value& seen) { return equals(seen, key); });
      if (fresh) seen_other.push_back(key);
    }
    if (fresh) out.push_back(item);
  }
  return Value::iterator(std::move(out));
}

Value filter_first(Evaluator&, const Value& value, CallArgs& args) {
  ArgParser("first", args, {});
  std::vector<Value> items = iterate(value);
  return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
}

Value filter_last(Evaluator&, const Value& value, CallArgs& args) {
  ArgParser("last", args, {});
  if (value.kind() == Kind::Iterator) runtime_fail("'{}' object is not reversible", type_name(value));
  std::vector<Value> items = iterate(value);
  return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
}

Value filter_reverse(Evaluator&, const Value& value, CallArgs& args) {
  ArgParser("reverse", args, {});
  if (value.is_string()) {
    std::u32string chars = unicode::decode(value.str());
    std::reverse(chars.begin(), chars.end());
    return Value(unicode::encode(chars), value.is_safe());
  }
  std::vector<Value> items = iterate(value);
  std::reverse(items.begin(), items.end());
  if (value.kind() == Kind::Iterator) return Value::list(std::move(items));  // jinja's list() fallback
  return Value::iterator(std::move(items),
                         value.kind() == Kind::Dict ? "dict_reversekeyiterator" : "list_reverseiterator");
}

Value filter_items(Evaluator&, const Value& value, CallArgs& args) {
  ArgParser("items", args, {});
  if (value.is_undefined()) return Value::iterator({});
  if (value.kind() != Kind::Dict || value.dict_data().read_only)
    runtime_fail("Can only get item pairs from a mapping.");
  std::vector<Value> pairs;
  for (const auto& [key, item] : value.dict_data().entries) pairs.push_back(Value::tuple({key, item}));
  return Value::iterator(std::move(pairs));
}

Value filter_join(Evaluator& evaluator, const Value& value, CallArgs& args) {
  ArgParser parser("join", args, {"d", "attribute"});
  std::string separator = to_str(parser.get(0, Value(std::string())));
  Value attribute = parser.get(1, Value::none());
  std::string out;
  bool first = true;
  for (const Value& item : iterate(value)) {
    if (!first) out += separator;
    out += to_str(get_path(evaluator, item, attribute), evaluator.limits().max_output_bytes);
    first = false;
    evaluator.check_string_size(out.size());
  }
  return Value(std::move(out));
}

Value filter_map(Evaluator& evaluator, const Value& value, CallArgs& args) {
  std::vector<Value> out;
  if (!truthy(value)) return Value::iterator({});
  bool by_attribute = args.positional.empty() && std::any_of(args.keyword.begin(), args.keyword.end(),
                                                             [](const auto& kw) { return kw.first == "attribute"; });
  if (by_attribute) {
    ArgParser parser("map", args, {"attribute", "default"});
    Value fallback = parser.get(1, Value::none());
    for (const Value& item : iterate(value)) {
      Value mapped = get_path(evaluator, item, parser.get(0));
      out.push_back(mapped.is_undefined() && !fallback.is_none() ? fallback : mapped);
    }
    return Value::iterator(std::move(out));
  }
  if (args.positional.empty()) runtime_fail("map requires a filter argument");
  std::string name = to_str(args.positional[0]);
  CallArgs rest{std::vector<Value>(args.positional.begin() + 1, args.positional.end()), args.keyword};
  for (const Value& item : iterate(value)) {
    CallArgs item_args = rest;
    out.push_back(evaluator.apply_filter(name, item, item_args));
  }
  return Value::iterator(std::move(out));
}

// select/reject/selectattr/rejectattr: jinja's select_or_reject.
Value select_or_reject(Evaluator& evaluator, const Value& value, CallArgs& args, bool keep_matches, bool by_attribute) {
  if (!truthy(value)) return Value::iterator({});
  size_t offset = by_attribute ? 1 : 0;
  if (by_attribute && args.positional.empty()) runtime_fail("Missing parameter for attribute name");
  Value attribute = by_attribute ? args.positional[0] : Value::none();
  bool has_test = args.positional.size() > offset;
  std::string test = has_test ? to_str(args.positional[offset]) : std::string();
  CallArgs test_args{
      std::vector<Value>(args.positional.begin() + std::min(args.positional.size(), offset + 1), args.positional.end()),
      args.keyword};
  std::vector<Value> out;
  for (const Value& item : iterate(value)) {
    Value subject = get_path(evaluator, item, attribute);
    CallArgs item_args = test_args;
    bool matches = has_test ? evaluator.apply_test(test, subject, item_args) : truthy(subject);
    if (matches == keep_matches) out.push_back(item);
  }
  return Value::iterator(std::move(out));
}

Value filter_select(Evaluator& e, const Value& v, CallArgs& a) { return select_or_reject(e, v, a, true, false); }
Value filter_reject(Evaluator& e, const Value& v, CallArgs& a) { return select_or_reject(e, v, a, false, false); }
Value filter_selectattr(Evaluator& e, const Value& v, CallArgs& a) { return select_or_reject(e, v, a, true, true); }
Value filter_rejectattr(Evaluator& e, const Value& v, CallArgs& a) { return select_or_reject(e, v, a, false, true); }

Value filter_sum(Evaluator& evaluator, const Value& value, CallArgs& args) {
  ArgParser parser("sum", args, {"attribute", "start"});
  Value total = parser.get(1, Value(int64_t{0}));
  if (total.is_string()) runtime_fail("sum() can't sum strings [use ''.join(seq) instead]");
  for (const Value& item : iterate(value)) {
    total = binary_operation(evaluator, BinaryOp::Add, total, get_path(evaluator, item, parser.get(0, Value::none())));
  }
  return total;
}

Value filter_batch(Evaluator& evaluator, const Value& value, CallArgs& args) {
  ArgParser parser("batch", args, {"linecount", "fill_with"});
  int64_t size = parser.get_int(0, 0);
  if (size <= 0) runtime_fail("batch size must be positive");
  Value fill = parser.get(1, Value::none());
  std::vector<Value> batches;
  std::vector<Value> current;
  for (const Value& item : iterate(value)) {
    if (static_cast<int64_t>(current.size()) == size) batches.push_back(Value::list(std::exchange(current, {})));
    current.push_back(item);
  }
  if (!current.empty()) {
    if (!fill.is_none()) {
      evaluator.check_list_size(static_cast<size_t>(size));
      while (static_cast<int64_t>(current.size()) < size) current.push_back(fill);
    }
    batches.push_back(Value::list(std::move(current)));
  }
  return Value::iterator(std::move(batches));
}

Value filter_slice(Evaluator& evaluator, const Value& value, CallArgs& args) {
  ArgParser parser("slice", args, {"slices", "fill_with"});
  int64_t slices = parser.get_int(0, 0);
  if (slices <= 0) runtime_fail("slice count must be positive");
  evaluator.check_list_size(static_cast<size_t>(slices));
  Value fill = parser.get(1, Value::none());
  std::vector<Value> items = iterate(value);
  auto count = static_cast<int64_t>(items.size());
  int64_t per_slice = count / slices;
  int64_t with_extra = count % slices;
  int64_t offset = 0;
  std::vector<Value> out;
  for (int64_t slice = 0; slice < slices; ++slice) {
    int64_t start = offset + slice * per_slice;
    if (slice < with_extra) ++offset;
    int64_t end = offset + (slice + 1) * per_slice;
    std::vector<Value> part(items.begin() + start, items.begin() + end);
    if (!fill.is_none() && slice >= with_extra) part.push_back(fill);
    out.push_back(Value::list(std::move(part)));
  }
  return Value::iterator(std::move(out));
}

}  // namespace

void add_sequence_filters(std::unordered_map<std::string_view, FilterFunction>& table) {
  table.insert({{"batch", filter_batch},
                {"dictsort", filter_dictsort},
                {"first", filter_first},
                {"items", filter_items},
                {"join", filter_join},
                {"last", filter_last},
                {"map", filter_map},
                {"max", filter_max},
                {"min", filter_min},
                {"reject", filter_reject},
                {"rejectattr", filter_rejectattr},
                {"reverse", filter_reverse},
                {"select", filter_select},
                {"selectattr", filter_selectattr},
                {"slice", filter_slice},
                {"sort", filter_sort},
                {"sum", filter_sum},
                {"unique", filter_unique}});
}

}  // namespace flotilla::chat
