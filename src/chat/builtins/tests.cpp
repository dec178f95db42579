// Jinja2 3.1 tests (tests.py): `x is defined`, `x is string`, `x is divisibleby 3`, ...
#include <string_view>
#include <unordered_map>

#include "chat/builtins/builtins.h"
#include "chat/evaluator.h"
#include "unicode/properties.h"
#include "unicode/utf8.h"

namespace flotilla::chat {

namespace {

Value single_arg(const CallArgs& args, const char* test) {
  ArgParser parser(test, args, {"other"});
  if (!parser.has(0)) runtime_fail("test '{}' needs an argument", test);
  return parser.get(0);
}

void no_args(const CallArgs& args, const char* test) { ArgParser parser(test, args, {}); }

bool test_defined(Evaluator&, const Value& v, CallArgs& a) { return no_args(a, "defined"), !v.is_undefined(); }
bool test_undefined(Evaluator&, const Value& v, CallArgs& a) { return no_args(a, "undefined"), v.is_undefined(); }
bool test_none(Evaluator&, const Value& v, CallArgs& a) { return no_args(a, "none"), v.is_none(); }
bool test_boolean(Evaluator&, const Value& v, CallArgs& a) { return no_args(a, "boolean"), v.kind() == Kind::Bool; }
bool test_true(Evaluator&, const Value& v, CallArgs& a) {
  return no_args(a, "true"), v.kind() == Kind::Bool && v.boolean();
}
bool test_false(Evaluator&, const Value& v, CallArgs& a) {
  return no_args(a, "false"), v.kind() == Kind::Bool && !v.boolean();
}
bool test_integer(Evaluator&, const Value& v, CallArgs& a) { return no_args(a, "integer"), v.kind() == Kind::Int; }
bool test_float(Evaluator&, const Value& v, CallArgs& a) { return no_args(a, "float"), v.kind() == Kind::Float; }
bool test_number(Evaluator&, const Value& v, CallArgs& a) { return no_args(a, "number"), v.is_number(); }
bool test_string(Evaluator&, const Value& v, CallArgs& a) { return no_args(a, "string"), v.is_string(); }
bool test_escaped(Evaluator&, const Value& v, CallArgs& a) {
  return no_args(a, "escaped"), v.is_string() && v.is_safe();
}

bool test_mapping(Evaluator&, const Value& v, CallArgs& a) {
  no_args(a, "mapping");
  return v.kind() == Kind::Dict && !v.dict_data().read_only;
}

// Python's iter() succeeds: strings, containers, iterators, the loop object, and Undefined.
bool test_iterable(Evaluator&, const Value& v, CallArgs& a) {
  no_args(a, "iterable");
  switch (v.kind()) {
    case Kind::Undefined:
    case Kind::String:
    case Kind::List:
    case Kind::Tuple:
    case Kind::Iterator:
    case Kind::Dict:
      return true;
    default:
      return false;
  }
}

// len() and __getitem__ exist: str, list, tuple, dict, and Undefined; not views or iterators.
bool test_sequence(Evaluator&, const Value& v, CallArgs& a) {
  no_args(a, "sequence");
  switch (v.kind()) {
    case Kind::Undefined:
    case Kind::String:
    case Kind::Tuple:
      return true;
    case Kind::List:
      return !v.list_data().type_name || is_range(v);
    case Kind::Dict:
      return !v.dict_data().read_only;
    default:
      return false;
  }
}

// Undefined defines __call__, so Python's callable() is true for it.
bool test_callable(Evaluator&, const Value& v, CallArgs& a) {
  no_args(a, "callable");
  return v.kind() == Kind::Callable || v.is_undefined();
}

bool test_sameas(Evaluator&, const Value& v, CallArgs& a) {
  Value other = single_arg(a, "sameas");
  if (v.kind() != other.kind()) return false;
  switch (v.kind()) {
    case Kind::None:
      return true;
    case Kind::Bool:
      return v.boolean() == other.boolean();
    case Kind::Int:
      return v.integer() == other.integer() && v.integer() >= -5 && v.integer() <= 256;  // CPython's cached ints
    case Kind::Undefined:
    case Kind::Float:
      return false;
    default:
      return v.identity() == other.identity();
  }
}

bool test_in(Evaluator&, const Value& v, CallArgs& a) { return contains(single_arg(a, "in"), v); }

bool remainder_is(Evaluator& e, const Value& v, const Value& divisor, int64_t expected) {
  return equals(binary_operation(e, BinaryOp::Mod, v, divisor), Value(expected));
}
bool test_odd(Evaluator& e, const Value& v, CallArgs& a) {
  return no_args(a, "odd"), remainder_is(e, v, Value(int64_t{2}), 1);
}
bool test_even(Evaluator& e, const Value& v, CallArgs& a) {
  return no_args(a, "even"), remainder_is(e, v, Value(int64_t{2}), 0);
}
bool test_divisibleby(Evaluator& e, const Value& v, CallArgs& a) {
  return remainder_is(e, v, single_arg(a, "divisibleby"), 0);
}

bool test_eq(Evaluator&, const Value& v, CallArgs& a) {
  return compare_operation(CompareOp::Eq, v, single_arg(a, "eq"));
}
bool test_ne(Evaluator&, const Value& v, CallArgs& a) {
  return compare_operation(CompareOp::Ne, v, single_arg(a, "ne"));
}
bool test_lt(Evaluator&, const Value& v, CallArgs& a) {
  return compare_operation(CompareOp::Lt, v, single_arg(a, "lt"));
}
bool test_le(Evaluator&, const Value& v, CallArgs& a) {
  return compare_operation(CompareOp::Le, v, single_arg(a, "le"));
}
bool test_gt(Evaluator&, const Value& v, CallArgs& a) {
  return compare_operation(CompareOp::Gt, v, single_arg(a, "gt"));
}
bool test_ge(Evaluator&, const Value& v, CallArgs& a) {
  return compare_operation(CompareOp::Ge, v, single_arg(a, "ge"));
}

bool test_lower(Evaluator&, const Value& v, CallArgs& a) {
  no_args(a, "lower");
  std::u32string chars = unicode::decode(to_str(v));
  bool cased = false;
  for (char32_t c : chars) {
    if (unicode::is_upper(c)) return false;
    cased |= unicode::is_lower(c);
  }
  return cased;
}

bool test_upper(Evaluator&, const Value& v, CallArgs& a) {
  no_args(a, "upper");
  std::u32string chars = unicode::decode(to_str(v));
  bool cased = false;
  for (char32_t c : chars) {
    if (unicode::is_lower(c)) return false;
    cased |= unicode::is_upper(c);
  }
  return cased;
}

bool test_filter(Evaluator&, const Value& v, CallArgs& a) {
  no_args(a, "filter");
  Availability availability = Availability::Unknown;
  if (v.is_string()) find_filter(v.str(), &availability);
  return availability != Availability::Unknown;
}

bool test_test(Evaluator&, const Value& v, CallArgs& a) {
  no_args(a, "test");
  Availability availability = Availability::Unknown;
  if (v.is_string()) find_test(v.str(), &availability);
  return availability != Availability::Unknown;
}

}  // namespace

TestFunction find_test(std::string_view name, Availability* availability) {
  static const std::unordered_map<std::string_view, TestFunction> kTests = {
      {"defined", test_defined},
      {"undefined", test_undefined},
      {"none", test_none},
      {"boolean", test_boolean},
      {"true", test_true},
      {"false", test_false},
      {"integer", test_integer},
      {"float", test_float},
      {"number", test_number},
      {"string", test_string},
      {"mapping", test_mapping},
      {"iterable", test_iterable},
      {"sequence", test_sequence},
      {"callable", test_callable},
      {"sameas", test_sameas},
      {"escaped", test_escaped},
      {"in", test_in},
      {"odd", test_odd},
      {"even", test_even},
      {"divisibleby", test_divisibleby},
      {"eq", test_eq},
      {"equalto", test_eq},
      {"==", test_eq},
      {"ne", test_ne},
      {"!=", test_ne},
      {"lt", test_lt},
      {"lessthan", test_lt},
      {"<", test_lt},
      {"le", test_le},
      {"<=", test_le},
      {"gt", test_gt},
      {"greaterthan", test_gt},
      {">", test_gt},
      {"ge", test_ge},
      {">=", test_ge},
      {"lower", test_lower},
      {"upper", test_upper},
      {"filter", test_filter},
      {"test", test_test},
  };
  auto it = kTests.find(name);
  *availability = it == kTests.end() ? Availability::Unknown : Availability::Supported;
  return it == kTests.end() ? nullptr : it->second;
}

}  // namespace flotilla::chat
