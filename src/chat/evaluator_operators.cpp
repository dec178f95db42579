// Python's arithmetic, comparison and membership operators as the evaluator applies them to
// values, including markupsafe's rule that Markup + str escapes the str.
#include <cmath>
#include <limits>

#include "chat/builtins/string_ops.h"
#include "chat/evaluator.h"

namespace flotilla::chat {

namespace {

const char* symbol(BinaryOp op) {
  switch (op) {
    case BinaryOp::Add:
      return "+";
    case BinaryOp::Sub:
      return "-";
    case BinaryOp::Mul:
      return "*";
    case BinaryOp::Div:
      return "/";
    case BinaryOp::FloorDiv:
      return "//";
    case BinaryOp::Mod:
      return "%";
    case BinaryOp::Pow:
      return "** or pow()";
    default:
      return "?";
  }
}

[[noreturn]] void unsupported_operands(BinaryOp op, const Value& a, const Value& b) {
  runtime_fail("unsupported operand type(s) for {}: '{}' and '{}'", symbol(op), type_name(a), type_name(b));
}

// Python ints are unbounded; results that leave int64 are refused rather than wrapped.
Value checked_int(bool overflow, int64_t result) {
  if (overflow) runtime_fail("unsupported: integer result exceeds 64 bits");
  return Value(result);
}

Value add(Evaluator& evaluator, const Value& a, const Value& b) {
  if (a.is_integer() && b.is_integer()) {
    int64_t result;
    bool overflow = __builtin_add_overflow(a.integer(), b.integer(), &result);
    return checked_int(overflow, result);
  }
  if (a.is_number() && b.is_number()) return Value(a.number() + b.number());
  if (a.is_string() && b.is_string()) {
    evaluator.check_string_size(a.str().size() + b.str().size());
    if (a.is_safe() && !b.is_safe()) return Value(a.str() + html_escape(b.str()), true);
    if (b.is_safe() && !a.is_safe()) return Value(html_escape(a.str()) + b.str(), true);
    return Value(a.str() + b.str(), a.is_safe());
  }
  bool plain_lists =
      a.is_sequence_like() && a.kind() == b.kind() && !a.list_data().type_name && !b.list_data().type_name;
  if (plain_lists) {
    evaluator.check_list_size(a.items().size() + b.items().size());
    std::vector<Value> items = a.items();
    items.insert(items.end(), b.items().begin(), b.items().end());
    return a.kind() == Kind::List ? Value::list(std::move(items)) : Value::tuple(std::move(items));
  }
  if (a.is_string()) runtime_fail("can only concatenate str (not \"{}\") to str", type_name(b));
  if (a.kind() == Kind::List && !a.list_data().type_name) {
    runtime_fail("can only concatenate list (not \"{}\") to list", type_name(b));
  }
  unsupported_operands(BinaryOp::Add, a, b);
}

Value repeat(Evaluator& evaluator, const Value& sequence, int64_t count) {
  count = std::max<int64_t>(count, 0);
  if (sequence.is_string()) {
    const std::string& text = sequence.str();
    if (!text.empty() && static_cast<uint64_t>(count) > evaluator.limits().max_output_bytes / text.size()) {
      evaluator.check_string_size(evaluator.limits().max_output_bytes + 1);
    }
    std::string out;
    out.reserve(text.size() * count);
    for (int64_t i = 0; i < count; ++i) out += text;
    return Value(std::move(out), sequence.is_safe());
  }
  const auto& items = sequence.items();
  if (!items.empty() && count > evaluator.limits().max_loop_iterations / static_cast<int64_t>(items.size())) {
    evaluator.check_list_size(static_cast<size_t>(evaluator.limits().max_loop_iterations) + 1);
  }
  std::vector<Value> out;
  for (int64_t i = 0; i < count; ++i) out.insert(out.end(), items.begin(), items.end());
  return sequence.kind() == Kind::List ? Value::list(std::move(out)) : Value::tuple(std::move(out));
}

Value multiply(Evaluator& evaluator, const Value& a, const Value& b) {
  if (a.is_integer() && b.is_integer()) {
    int64_t result;
    bool overflow = __builtin_mul_overflow(a.integer(), b.integer(), &result);
    return checked_int(overflow, result);
  }
  if (a.is_number() && b.is_number()) return Value(a.number() * b.number());
  auto repeatable = [](const Value& v) { return v.is_string() || (v.is_sequence_like() && !v.list_data().type_name); };
  if (repeatable(a) && b.is_integer()) return repeat(evaluator, a, b.integer());
  if (a.is_integer() && repeatable(b)) return repeat(evaluator, b, a.integer());
  if (repeatable(a) || repeatable(b)) {
    runtime_fail("can't multiply sequence by non-int of type '{}'", type_name(repeatable(a) ? b : a));
  }
  unsupported_operands(BinaryOp::Mul, a, b);
}

// CPython's float floor division and modulo (Objects/floatobject.c, float_divmod).
std::pair<double, double> float_divmod(double a, double b) {
  double mod = std::fmod(a, b);
  double div = (a - mod) / b;
  if (mod != 0.0) {
    if ((b < 0) != (mod < 0)) {
      mod += b;
      div -= 1.0;
    }
  } else {
    mod = std::copysign(0.0, b);
  }
  double floordiv = 0.0;
  if (div != 0.0) {
    floordiv = std::floor(div);
    if (div - floordiv > 0.5) floordiv += 1.0;
  } else {
    floordiv = std::copysign(0.0, a / b);
  }
  return {floordiv, mod};
}

Value divide(BinaryOp op, const Value& a, const Value& b) {
  if (!a.is_number() || !b.is_number()) unsupported_operands(op, a, b);
  if (op == BinaryOp::Div) {
    if (b.number() == 0.0) runtime_fail("division by zero");
    return Value(a.number() / b.number());
  }
  if (a.is_integer() && b.is_integer()) {
    int64_t x = a.integer();
    int64_t y = b.integer();
    if (y == 0) runtime_fail("integer division or modulo by zero");
    if (x == std::numeric_limits<int64_t>::min() && y == -1)
      runtime_fail("unsupported: integer result exceeds 64 bits");
    int64_t quotient = x / y;
    int64_t remainder = x % y;
    if (remainder != 0 && ((remainder < 0) != (y < 0))) {
      quotient -= 1;
      remainder += y;
    }
    return Value(op == BinaryOp::FloorDiv ? quotient : remainder);
  }
  if (b.number() == 0.0) runtime_fail(op == BinaryOp::FloorDiv ? "float floor division by zero" : "float modulo");
  auto [floordiv, mod] = float_divmod(a.number(), b.number());
  return Value(op == BinaryOp::FloorDiv ? floordiv : mod);
}

Value power(const Value& a, const Value& b) {
  if (!a.is_number() || !b.is_number()) unsupported_operands(BinaryOp::Pow, a, b);
  if (a.is_integer() && b.is_integer() && b.integer() >= 0) {
    int64_t result = 1;
    int64_t base = a.integer();
    for (int64_t e = b.integer(); e > 0; --e) {
      if (__builtin_mul_overflow(result, base, &result)) runtime_fail("unsupported: integer result exceeds 64 bits");
      if (result == 0 || result == 1) break;
    }
    return Value(result);
  }
  if (a.number() == 0.0 && b.number() < 0) runtime_fail("0.0 cannot be raised to a negative power");
  double result = std::pow(a.number(), b.number());
  if (std::isnan(result) && !std::isnan(a.number()) && !std::isnan(b.number())) {
    runtime_fail("unsupported: complex result of a negative number raised to a fractional power");
  }
  return Value(result);
}

}  // namespace

void fail_undefined(const Value& undefined) {
  const std::string& hint = undefined.undefined_hint();
  runtime_fail("{}", hint.empty() ? "undefined value" : hint);
}

std::string missing_hint(const Value& object, const Value& key) {
  std::string owner = object.is_none() ? "None" : type_name(object) + " object";
  if (key.is_string()) return fmt::format("'{}' has no attribute {}", owner, to_repr(key));
  return fmt::format("{} has no element {}", owner, to_repr(key));
}

Value binary_operation(Evaluator& evaluator, BinaryOp op, const Value& a, const Value& b) {
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  switch (op) {
    case BinaryOp::Add:
      return add(evaluator, a, b);
    case BinaryOp::Sub:
      if (a.is_integer() && b.is_integer()) {
        int64_t result;
        bool overflow = __builtin_sub_overflow(a.integer(), b.integer(), &result);
        return checked_int(overflow, result);
      }
      if (a.is_number() && b.is_number()) return Value(a.number() - b.number());
      unsupported_operands(op, a, b);
    case BinaryOp::Mul:
      return multiply(evaluator, a, b);
    case BinaryOp::Mod:
      if (a.is_string()) {
        if (a.is_safe()) runtime_fail("unsupported: % formatting of a Markup string");
        return Value(percent_format(a.str(), b, evaluator.limits().max_output_bytes));
      }
      return divide(op, a, b);
    case BinaryOp::Div:
    case BinaryOp::FloorDiv:
      return divide(op, a, b);
    case BinaryOp::Pow:
      return power(a, b);
    default:
      runtime_fail("internal error: and/or are evaluated lazily");
  }
}

Value unary_operation(UnaryOp op, const Value& operand) {
  if (op == UnaryOp::Not) return Value(!truthy(operand));
  if (operand.is_undefined()) fail_undefined(operand);
  if (operand.kind() == Kind::Float) return Value(op == UnaryOp::Negate ? -operand.number() : operand.number());
  if (operand.is_integer()) {
    if (op == UnaryOp::Plus) return Value(operand.integer());
    if (operand.integer() == std::numeric_limits<int64_t>::min())
      runtime_fail("unsupported: integer result exceeds 64 bits");
    return Value(-operand.integer());
  }
  runtime_fail("bad operand type for unary {}: '{}'", op == UnaryOp::Negate ? '-' : '+', type_name(operand));
}

bool contains(const Value& container, const Value& item) {
  RenderBudget::charge_read(container);
  switch (container.kind()) {
    case Kind::Undefined:
      return false;
    case Kind::String:
      if (!item.is_string()) runtime_fail("'in <string>' requires string as left operand, not {}", type_name(item));
      return container.str().find(item.str()) != std::string::npos;
    case Kind::List:
    case Kind::Tuple:
    case Kind::Iterator:
      for (const Value& element : iterate(container)) {
        if (equals(element, item)) return true;
      }
      return false;
    case Kind::Dict:
      if (container.dict_data().read_only) break;
      if (!is_hashable(item)) runtime_fail("unhashable type: '{}'", type_name(item));
      return container.dict_data().find(item) != nullptr;
    default:
      break;
  }
  runtime_fail("argument of type '{}' is not iterable", type_name(container));
}

bool compare_operation(CompareOp op, const Value& a, const Value& b) {
  switch (op) {
    case CompareOp::Eq:
      return equals(a, b);
    case CompareOp::Ne:
      return !equals(a, b);
    case CompareOp::In:
      return contains(b, a);
    case CompareOp::NotIn:
      return !contains(b, a);
    default:
      break;
  }
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  switch (op) {
    case CompareOp::Lt:
      return compare(a, b, "<") < 0;
    case CompareOp::Le:
      return compare(a, b, "<=") <= 0;
    case CompareOp::Gt:
      return compare(a, b, ">") > 0;
    default:
      return compare(a, b, ">=") >= 0;
  }
}

}  // namespace flotilla::chat
