// Expression parsing with jinja2's precedence: ternary < or < and < not < comparisons < + - < ~
// < * / // % < ** < unary - + < postfix (. [] ()) and filters/tests.
#include <algorithm>

#include "chat/builtins/builtins.h"
#include "chat/parser.h"

namespace flotilla::chat {

namespace {

template <typename T>
std::unique_ptr<T> make(SourcePos pos) {
  return std::make_unique<T>(pos);
}

}  // namespace

void Parser::grow(Expr& parent, const Expr& child) const {
  parent.depth = std::max(parent.depth, child.depth + 1);
  if (parent.depth > kMaxSyntaxDepth) {
    error(parent.pos, fmt::format("expression nests deeper than {} levels", kMaxSyntaxDepth));
  }
}

ExprPtr Parser::parse_expression(bool with_condexpr) { return with_condexpr ? parse_condexpr() : parse_or(); }

ExprPtr Parser::parse_condexpr() {
  DepthGuard guard = nest(current().pos);
  ExprPtr expr = parse_or();
  while (skip_name("if")) {
    auto node = make<ConditionalExpr>(expr->pos);
    node->condition = parse_or();
    node->then_expr = std::move(expr);
    if (skip_name("else")) node->else_expr = parse_condexpr();
    grow(*node, *node->condition);
    grow(*node, *node->then_expr);
    if (node->else_expr) grow(*node, *node->else_expr);
    expr = std::move(node);
  }
  return expr;
}

ExprPtr Parser::parse_or() {
  ExprPtr left = parse_and();
  while (is_name("or")) {
    SourcePos pos = next().pos;
    ExprPtr right = parse_and();
    auto node = std::make_unique<BinaryExpr>(pos, BinaryOp::Or, std::move(left), std::move(right));
    grow(*node, *node->left);
    grow(*node, *node->right);
    left = std::move(node);
  }
  return left;
}

ExprPtr Parser::parse_and() {
  ExprPtr left = parse_not();
  while (is_name("and")) {
    SourcePos pos = next().pos;
    ExprPtr right = parse_not();
    auto node = std::make_unique<BinaryExpr>(pos, BinaryOp::And, std::move(left), std::move(right));
    grow(*node, *node->left);
    grow(*node, *node->right);
    left = std::move(node);
  }
  return left;
}

ExprPtr Parser::parse_not() {
  if (is_name("not")) {
    DepthGuard guard = nest(current().pos);
    SourcePos pos = next().pos;
    auto node = std::make_unique<UnaryExpr>(pos, UnaryOp::Not, parse_not());
    grow(*node, *node->operand);
    return node;
  }
  return parse_compare();
}

ExprPtr Parser::parse_compare() {
  SourcePos pos = current().pos;
  ExprPtr first = parse_math1();
  std::unique_ptr<CompareExpr> node;
  while (true) {
    CompareOp op;
    const Token& token = current();
    if (token.type == TokenType::Operator && token.text == "==") {
      op = CompareOp::Eq;
    } else if (token.type == TokenType::Operator && token.text == "!=") {
      op = CompareOp::Ne;
    } else if (token.type == TokenType::Operator && token.text == "<") {
      op = CompareOp::Lt;
    } else if (token.type == TokenType::Operator && token.text == "<=") {
      op = CompareOp::Le;
    } else if (token.type == TokenType::Operator && token.text == ">") {
      op = CompareOp::Gt;
    } else if (token.type == TokenType::Operator && token.text == ">=") {
      op = CompareOp::Ge;
    } else if (is_name("in")) {
      op = CompareOp::In;
    } else if (is_name("not") && peek().type == TokenType::Name && peek().text == "in") {
      next();
      op = CompareOp::NotIn;
    } else {
      break;
    }
    next();
    if (!node) {
      node = std::make_unique<CompareExpr>(pos, std::move(first));
      grow(*node, *node->first);
    }
    ExprPtr operand = parse_math1();
    grow(*node, *operand);
    node->rest.emplace_back(op, std::move(operand));
  }
  if (!node) return first;
  return node;
}

ExprPtr Parser::parse_math1() {
  ExprPtr left = parse_concat();
  while (is_op("+") || is_op("-")) {
    const Token& token = next();
    BinaryOp op = token.text == "+" ? BinaryOp::Add : BinaryOp::Sub;
    ExprPtr right = parse_concat();
    auto node = std::make_unique<BinaryExpr>(left->pos, op, std::move(left), std::move(right));
    grow(*node, *node->left);
    grow(*node, *node->right);
    left = std::move(node);
  }
  return left;
}

ExprPtr Parser::parse_concat() {
  ExprPtr first = parse_math2();
  if (!is_op("~")) return first;
  auto node = make<ConcatExpr>(first->pos);
  grow(*node, *first);
  node->parts.push_back(std::move(first));
  while (skip_op("~")) {
    node->parts.push_back(parse_math2());
    grow(*node, *node->parts.back());
  }
  return node;
}

ExprPtr Parser::parse_math2() {
  ExprPtr left = parse_pow();
  while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
    std::string text = next().text;
    BinaryOp op = text == "*"    ? BinaryOp::Mul
                  : text == "/"  ? BinaryOp::Div
                  : text == "//" ? BinaryOp::FloorDiv
                                 : BinaryOp::Mod;
    ExprPtr right = parse_pow();
    auto node = std::make_unique<BinaryExpr>(left->pos, op, std::move(left), std::move(right));
    grow(*node, *node->left);
    grow(*node, *node->right);
    left = std::move(node);
  }
  return left;
}

ExprPtr Parser::parse_pow() {
  ExprPtr left = parse_unary(/*with_filter=*/true);
  while (skip_op("**")) {
    ExprPtr right = parse_unary(/*with_filter=*/true);
    auto node = std::make_unique<BinaryExpr>(left->pos, BinaryOp::Pow, std::move(left), std::move(right));
    grow(*node, *node->left);
    grow(*node, *node->right);
    left = std::move(node);
  }
  return left;
}

ExprPtr Parser::parse_unary(bool with_filter) {
  DepthGuard guard = nest(current().pos);
  SourcePos pos = current().pos;
  ExprPtr node;
  if (skip_op("-")) {
    node = std::make_unique<UnaryExpr>(pos, UnaryOp::Negate, parse_unary(/*with_filter=*/false));
  } else if (skip_op("+")) {
    node = std::make_unique<UnaryExpr>(pos, UnaryOp::Plus, parse_unary(/*with_filter=*/false));
  } else {
    node = parse_primary();
  }
  if (node->kind == ExprKind::Unary) grow(*node, *static_cast<UnaryExpr&>(*node).operand);
  node = parse_postfix(std::move(node));
  if (with_filter) node = parse_filter_expr(std::move(node));
  return node;
}

ExprPtr Parser::parse_primary() {
  const Token& token = current();
  SourcePos pos = token.pos;
  switch (token.type) {
    case TokenType::Name: {
      std::string name = next().text;
      if (name == "true" || name == "True") return std::make_unique<LiteralExpr>(pos, Value(true));
      if (name == "false" || name == "False") return std::make_unique<LiteralExpr>(pos, Value(false));
      if (name == "none" || name == "None") return std::make_unique<LiteralExpr>(pos, Value::none());
      for (auto& names : mentioned_names_) names.insert(name);
      return std::make_unique<NameExpr>(pos, std::move(name));
    }
    case TokenType::String: {
      std::string text;
      while (current().type == TokenType::String) text += next().text;
      return std::make_unique<LiteralExpr>(pos, Value(std::move(text)));
    }
    case TokenType::Integer:
      return std::make_unique<LiteralExpr>(pos, Value(next().integer));
    case TokenType::Float:
      return std::make_unique<LiteralExpr>(pos, Value(next().real));
    default:
      break;
  }
  if (skip_op("(")) {
    ExprPtr node = parse_tuple(/*with_condexpr=*/true, "", /*explicit_parentheses=*/true);
    expect_op(")");
    return node;
  }
  if (is_op("[")) return parse_list();
  if (is_op("{")) return parse_dict();
  unexpected("an expression");
}

ExprPtr Parser::parse_tuple(bool with_condexpr, std::string_view end_name, bool explicit_parentheses) {
  auto tuple = std::make_unique<SequenceExpr>(ExprKind::Tuple, current().pos);
  bool is_tuple = false;
  while (true) {
    if (!tuple->items.empty()) expect_op(",");
    bool at_end = current().type == TokenType::VariableEnd || current().type == TokenType::BlockEnd || is_op(")") ||
                  (!end_name.empty() && is_name(end_name));
    if (at_end) break;
    tuple->items.push_back(parse_expression(with_condexpr));
    grow(*tuple, *tuple->items.back());
    if (!is_op(",")) break;
    is_tuple = true;
  }
  if (!is_tuple) {
    if (!tuple->items.empty()) return std::move(tuple->items[0]);
    if (!explicit_parentheses) unexpected("an expression");
  }
  return tuple;
}

ExprPtr Parser::parse_list() {
  auto node = std::make_unique<SequenceExpr>(ExprKind::List, next().pos);
  while (!is_op("]")) {
    if (!node->items.empty()) expect_op(",");
    if (is_op("]")) break;
    node->items.push_back(parse_expression());
    grow(*node, *node->items.back());
  }
  expect_op("]");
  return node;
}

ExprPtr Parser::parse_dict() {
  auto node = make<DictExpr>(next().pos);
  while (!is_op("}")) {
    if (!node->pairs.empty()) expect_op(",");
    if (is_op("}")) break;
    ExprPtr key = parse_expression();
    expect_op(":");
    ExprPtr value = parse_expression();
    grow(*node, *key);
    grow(*node, *value);
    node->pairs.emplace_back(std::move(key), std::move(value));
  }
  expect_op("}");
  return node;
}

ExprPtr Parser::parse_postfix(ExprPtr node) {
  while (true) {
    if (is_op(".") || is_op("[")) {
      node = parse_subscript(std::move(node));
    } else if (is_op("(")) {
      node = parse_call(std::move(node));
    } else {
      return node;
    }
  }
}

ExprPtr Parser::parse_filter_expr(ExprPtr node) {
  while (true) {
    if (is_op("|")) {
      node = parse_filter(std::move(node), /*start_inline=*/false);
    } else if (is_name("is")) {
      node = parse_test(std::move(node));
    } else if (is_op("(")) {
      node = parse_call(std::move(node));
    } else {
      return node;
    }
  }
}

ExprPtr Parser::parse_subscript(ExprPtr node) {
  const Token& token = next();
  SourcePos pos = token.pos;
  ExprPtr result;
  if (token.text == ".") {
    if (current().type == TokenType::Name) {
      result = std::make_unique<GetAttrExpr>(pos, std::move(node), next().text);
      grow(*result, *static_cast<GetAttrExpr&>(*result).object);
      return result;
    }
    if (current().type != TokenType::Integer) unexpected("a name or number after '.'");
    auto index = std::make_unique<LiteralExpr>(current().pos, Value(next().integer));
    auto item = std::make_unique<GetItemExpr>(pos, std::move(node), std::move(index));
    grow(*item, *item->object);
    return item;
  }
  std::vector<ExprPtr> args;
  while (!is_op("]")) {
    if (!args.empty()) expect_op(",");
    args.push_back(parse_subscribed());
  }
  expect_op("]");
  ExprPtr index;
  if (args.size() == 1) {
    index = std::move(args[0]);
  } else {
    auto tuple = std::make_unique<SequenceExpr>(ExprKind::Tuple, pos);
    for (auto& arg : args) {
      grow(*tuple, *arg);
      tuple->items.push_back(std::move(arg));
    }
    index = std::move(tuple);
  }
  if (!index) unexpected("a subscript");
  auto item = std::make_unique<GetItemExpr>(pos, std::move(node), std::move(index));
  grow(*item, *item->object);
  grow(*item, *item->index);
  return item;
}

ExprPtr Parser::parse_subscribed() {
  SourcePos pos = current().pos;
  ExprPtr start;
  if (!is_op(":")) {
    start = parse_expression();
    if (!is_op(":")) return start;
  }
  next();  // the first ':'
  auto slice = make<SliceExpr>(pos);
  slice->start = std::move(start);
  if (!is_op("]") && !is_op(",") && !is_op(":")) slice->stop = parse_expression();
  if (skip_op(":") && !is_op("]") && !is_op(",")) slice->step = parse_expression();
  for (const ExprPtr* part : {&slice->start, &slice->stop, &slice->step}) {
    if (*part) grow(*slice, **part);
  }
  return slice;
}

ArgumentExprs Parser::parse_call_args() {
  ArgumentExprs args;
  expect_op("(");
  bool require_comma = false;
  while (!is_op(")")) {
    if (require_comma) {
      expect_op(",");
      if (is_op(")")) break;
    }
    if (is_op("*") || is_op("**")) error(current().pos, "unsupported: *args/**kwargs in calls");
    if (current().type == TokenType::Name && peek().type == TokenType::Operator && peek().text == "=") {
      SourcePos key_pos = current().pos;
      std::string key = next().text;
      next();
      for (const auto& existing : args.keyword) {
        if (existing.first == key) error(key_pos, fmt::format("keyword argument repeated: {}", key));
      }
      args.keyword.emplace_back(std::move(key), parse_expression());
    } else {
      if (!args.keyword.empty()) error(current().pos, "positional argument follows keyword argument");
      args.positional.push_back(parse_expression());
    }
    require_comma = true;
  }
  expect_op(")");
  return args;
}

ExprPtr Parser::parse_call(ExprPtr callee) {
  auto node = std::make_unique<CallExpr>(current().pos, std::move(callee));
  node->args = parse_call_args();
  grow(*node, *node->callee);
  for (const auto& arg : node->args.positional) grow(*node, *arg);
  for (const auto& arg : node->args.keyword) grow(*node, *arg.second);
  return node;
}

ExprPtr Parser::parse_filter(ExprPtr node, bool start_inline) {
  while (is_op("|") || start_inline) {
    if (!start_inline) next();
    start_inline = false;
    SourcePos pos = current().pos;
    std::string name = expect_name();
    if (is_op(".")) error(pos, fmt::format("no filter named '{}.{}'", name, peek().text));
    auto filter = std::make_unique<FilterExpr>(pos, std::move(node), name);
    Availability availability;
    filter->function = find_filter(name, &availability);
    if (availability == Availability::Unknown) error(pos, fmt::format("no filter named '{}'", name));
    if (availability == Availability::Unsupported) error(pos, fmt::format("unsupported filter '{}'", name));
    if (is_op("(")) filter->args = parse_call_args();
    if (filter->operand) grow(*filter, *filter->operand);
    for (const auto& arg : filter->args.positional) grow(*filter, *arg);
    for (const auto& arg : filter->args.keyword) grow(*filter, *arg.second);
    node = std::move(filter);
  }
  return node;
}

ExprPtr Parser::parse_test(ExprPtr node) {
  next();  // 'is'
  bool negated = skip_name("not");
  SourcePos pos = current().pos;
  std::string name = expect_name();
  auto test = std::make_unique<TestExpr>(pos, std::move(node), name);
  Availability availability;
  test->function = find_test(name, &availability);
  if (availability == Availability::Unknown) error(pos, fmt::format("no test named '{}'", name));
  if (availability == Availability::Unsupported) error(pos, fmt::format("unsupported test '{}'", name));
  const Token& token = current();
  bool argument_follows = token.type == TokenType::Name || token.type == TokenType::String ||
                          token.type == TokenType::Integer || token.type == TokenType::Float || is_op("[") ||
                          is_op("{");
  if (is_op("(")) {
    test->args = parse_call_args();
  } else if (argument_follows && !is_name("else") && !is_name("or") && !is_name("and")) {
    if (is_name("is")) error(token.pos, "cannot chain multiple tests with 'is'");
    test->args.positional.push_back(parse_postfix(parse_primary()));
  }
  grow(*test, *test->operand);
  for (const auto& arg : test->args.positional) grow(*test, *arg);
  for (const auto& arg : test->args.keyword) grow(*test, *arg.second);
  if (!negated) return test;
  auto negation = std::make_unique<UnaryExpr>(pos, UnaryOp::Not, std::move(test));
  grow(*negation, *negation->operand);
  return negation;
}

}  // namespace flotilla::chat
