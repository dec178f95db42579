// Expression evaluation and jinja2's sandboxed attribute/item lookup: `a.b` tries the Python
// attribute then the item, `a[b]` the item then the attribute, and a miss yields Undefined.
#include "chat/builtins/builtins.h"
#include "chat/evaluator.h"

namespace flotilla::chat {

Value Evaluator::eval(const Expr& expr, const ScopePtr& scope) {
  try {
    DepthGuard guard = enter_frame();
    return eval_node(expr, scope);
  } catch (const PositionedError&) {
    throw;
  } catch (const TemplateError& error) {
    throw PositionedError(error.what(), expr.pos);
  }
}

CallArgs Evaluator::eval_args(const ArgumentExprs& args, const ScopePtr& scope) {
  CallArgs values;
  values.positional.reserve(args.positional.size());
  for (const auto& arg : args.positional) values.positional.push_back(eval(*arg, scope));
  for (const auto& [key, arg] : args.keyword) values.keyword.emplace_back(key, eval(*arg, scope));
  return values;
}

Value Evaluator::eval_node(const Expr& expr, const ScopePtr& scope) {
  switch (expr.kind) {
    case ExprKind::Literal:
      return static_cast<const LiteralExpr&>(expr).value;
    case ExprKind::Name: {
      const auto& name = static_cast<const NameExpr&>(expr).name;
      const Value* value = scope->find(name);
      return value ? *value : Value::undefined(fmt::format("'{}' is undefined", name));
    }
    case ExprKind::GetAttr: {
      const auto& node = static_cast<const GetAttrExpr&>(expr);
      return get_attr(eval(*node.object, scope), node.attribute);
    }
    case ExprKind::GetItem:
      return eval_get_item(static_cast<const GetItemExpr&>(expr), scope);
    case ExprKind::Slice:
      runtime_fail("a slice is only valid inside []");
    case ExprKind::List:
    case ExprKind::Tuple: {
      const auto& node = static_cast<const SequenceExpr&>(expr);
      std::vector<Value> items;
      items.reserve(node.items.size());
      for (const auto& item : node.items) items.push_back(eval(*item, scope));
      return expr.kind == ExprKind::List ? Value::list(std::move(items)) : Value::tuple(std::move(items));
    }
    case ExprKind::Dict: {
      auto dict = std::make_shared<DictData>();
      for (const auto& [key_expr, value_expr] : static_cast<const DictExpr&>(expr).pairs) {
        Value key = eval(*key_expr, scope);
        if (!is_hashable(key)) runtime_fail("unhashable type: '{}'", type_name(key));
        dict->set(std::move(key), eval(*value_expr, scope));
      }
      finish_container(*dict);
      return Value::dict(std::move(dict));
    }
    case ExprKind::Unary: {
      const auto& node = static_cast<const UnaryExpr&>(expr);
      return unary_operation(node.op, eval(*node.operand, scope));
    }
    case ExprKind::Binary: {
      const auto& node = static_cast<const BinaryExpr&>(expr);
      Value left = eval(*node.left, scope);
      if (node.op == BinaryOp::And) return truthy(left) ? eval(*node.right, scope) : left;
      if (node.op == BinaryOp::Or) return truthy(left) ? left : eval(*node.right, scope);
      return binary_operation(*this, node.op, left, eval(*node.right, scope));
    }
    case ExprKind::Concat: {
      std::string text;
      for (const auto& part : static_cast<const ConcatExpr&>(expr).parts) {
        text += to_str(eval(*part, scope), limits_.max_output_bytes);
        check_string_size(text.size());
      }
      return Value(std::move(text));
    }
    case ExprKind::Compare:
      return eval_compare(static_cast<const CompareExpr&>(expr), scope);
    case ExprKind::Call:
      return eval_call(static_cast<const CallExpr&>(expr), scope);
    case ExprKind::Filter:
      return apply_filter_chain(static_cast<const FilterExpr&>(expr), nullptr, scope);
    case ExprKind::Test: {
      const auto& node = static_cast<const TestExpr&>(expr);
      Value operand = eval(*node.operand, scope);
      CallArgs args = eval_args(node.args, scope);
      RenderBudget::charge_read(operand);
      for (const Value& arg : args.positional) RenderBudget::charge_read(arg);
      return Value(node.function(*this, operand, args));
    }
    case ExprKind::Conditional: {
      const auto& node = static_cast<const ConditionalExpr&>(expr);
      if (truthy(eval(*node.condition, scope))) return eval(*node.then_expr, scope);
      if (node.else_expr) return eval(*node.else_expr, scope);
      return Value::undefined("the inline if-expression evaluated to false and no else section was defined");
    }
  }
  runtime_fail("internal error: unknown expression");
}

Value Evaluator::eval_compare(const CompareExpr& expr, const ScopePtr& scope) {
  Value left = eval(*expr.first, scope);
  for (const auto& [op, operand] : expr.rest) {
    Value right = eval(*operand, scope);
    if (!compare_operation(op, left, right)) return Value(false);
    left = std::move(right);
  }
  return Value(true);
}

Value Evaluator::eval_call(const CallExpr& expr, const ScopePtr& scope) {
  Value callee = eval(*expr.callee, scope);
  CallArgs args = eval_args(expr.args, scope);
  return call(callee, args);
}

Value Evaluator::call(const Value& callee, CallArgs& args) {
  if (callee.kind() == Kind::Callable) return callee.callable_ref().call(*this, args);
  if (callee.is_undefined()) fail_undefined(callee);
  runtime_fail("'{}' object is not callable", type_name(callee));
}

Value Evaluator::apply_filter_chain(const FilterExpr& filter, const Value* input, const ScopePtr& scope) {
  Value operand;
  if (!filter.operand) {
    operand = *input;
  } else if (filter.operand->kind == ExprKind::Filter && input) {
    operand = apply_filter_chain(static_cast<const FilterExpr&>(*filter.operand), input, scope);
  } else {
    operand = eval(*filter.operand, scope);
  }
  CallArgs args = eval_args(filter.args, scope);
  try {
    bool constant_time = (filter.name == "length" || filter.name == "count") && !operand.is_string();
    if (!constant_time) RenderBudget::charge_read(operand);
    for (const Value& arg : args.positional) RenderBudget::charge_read(arg);
    return filter.function(*this, operand, args);
  } catch (const PositionedError&) {
    throw;
  } catch (const TemplateError& error) {
    throw PositionedError(fmt::format("filter '{}': {}", filter.name, error.what()), filter.pos);
  }
}

Value Evaluator::apply_filter(std::string_view name, const Value& input, CallArgs& args) {
  Availability availability;
  FilterFunction function = find_filter(name, &availability);
  if (availability != Availability::Supported) runtime_fail("no supported filter named '{}'", name);
  return function(*this, input, args);
}

bool Evaluator::apply_test(std::string_view name, const Value& input, CallArgs& args) {
  Availability availability;
  TestFunction function = find_test(name, &availability);
  if (availability != Availability::Supported) runtime_fail("no supported test named '{}'", name);
  return function(*this, input, args);
}

Value Evaluator::get_attr(const Value& object, const std::string& name) {
  switch (object.kind()) {
    case Kind::Undefined:
      fail_undefined(object);
    case Kind::Namespace: {
      const Value* value = object.dict_data().find(std::string_view(name));
      return value ? *value : Value::undefined(missing_hint(object, Value(name)));
    }
    case Kind::Dict: {
      if (!object.dict_data().read_only) {
        Value method = find_method(object, name);
        if (!method.is_undefined()) return method;
      }
      const Value* value = object.dict_data().find(std::string_view(name));
      return value ? *value : Value::undefined(missing_hint(object, Value(name)));
    }
    default: {
      Value method = find_method(object, name);
      return method.is_undefined() && method.undefined_hint().empty()
                 ? Value::undefined(missing_hint(object, Value(name)))
                 : method;
    }
  }
}

Value Evaluator::get_item(const Value& object, const Value& key) {
  switch (object.kind()) {
    case Kind::Undefined:
      fail_undefined(object);
    case Kind::Dict:
      if (!object.dict_data().read_only && is_hashable(key)) {
        const Value* value = object.dict_data().find(key);
        if (value) return *value;
      }
      break;
    case Kind::String:
      if (key.is_integer()) return index_sequence(object, key.integer());
      break;
    case Kind::List:
    case Kind::Tuple:
      if (key.is_integer() && (!object.list_data().type_name || is_range(object))) {
        return index_sequence(object, key.integer());
      }
      break;
    default:
      break;
  }
  if (key.is_string()) return get_attr(object, key.str());
  return Value::undefined(missing_hint(object, key));
}

Value Evaluator::eval_get_item(const GetItemExpr& expr, const ScopePtr& scope) {
  Value object = eval(*expr.object, scope);
  if (expr.index->kind != ExprKind::Slice) return get_item(object, eval(*expr.index, scope));
  const auto& slice = static_cast<const SliceExpr&>(*expr.index);
  Value start = slice.start ? eval(*slice.start, scope) : Value::none();
  Value stop = slice.stop ? eval(*slice.stop, scope) : Value::none();
  Value step = slice.step ? eval(*slice.step, scope) : Value::none();
  if (object.is_undefined()) fail_undefined(object);
  bool sliceable =
      object.is_string() || (object.is_sequence_like() && (!object.list_data().type_name || is_range(object)));
  if (!sliceable) return Value::undefined(fmt::format("'{}' object is not subscriptable", type_name(object)));
  return slice_sequence(object, start, stop, step);
}

}  // namespace flotilla::chat
