// Statement parsing: the tags transformers' environment knows (jinja2 built-ins plus the
// loopcontrols extension and `generation`), with clear errors for everything else.
#include "chat/parser.h"

#include <algorithm>

#include "core/error.h"

namespace flotilla::chat {

StmtList parse_template(std::string_view source, const std::string& template_name) {
  return Parser(tokenize(source, template_name), template_name).parse();
}

Parser::Parser(std::vector<Token> tokens, const std::string& template_name)
    : tokens_(std::move(tokens)), name_(template_name) {}

StmtList Parser::parse() {
  StmtList body = subparse({});
  if (current().type != TokenType::End) unexpected("end of template");
  return body;
}

const Token& Parser::next() {
  const Token& token = tokens_[index_];
  if (index_ + 1 < tokens_.size()) ++index_;
  return token;
}

bool Parser::is_name(std::string_view name) const {
  return current().type == TokenType::Name && current().text == name;
}

bool Parser::is_op(std::string_view op) const { return current().type == TokenType::Operator && current().text == op; }

bool Parser::skip_name(std::string_view name) {
  if (!is_name(name)) return false;
  next();
  return true;
}

bool Parser::skip_op(std::string_view op) {
  if (!is_op(op)) return false;
  next();
  return true;
}

void Parser::expect_op(std::string_view op) {
  if (!skip_op(op)) unexpected(fmt::format("'{}'", op));
}

std::string Parser::expect_name() {
  if (current().type != TokenType::Name) unexpected("a name");
  return next().text;
}

void Parser::expect_block_end() {
  if (current().type != TokenType::BlockEnd) unexpected("'%}'");
  next();
}

std::string Parser::describe(const Token& token) const {
  switch (token.type) {
    case TokenType::Data:
      return "template text";
    case TokenType::VariableBegin:
      return "'{{'";
    case TokenType::VariableEnd:
      return "'}}'";
    case TokenType::BlockBegin:
      return "'{%'";
    case TokenType::BlockEnd:
      return "'%}'";
    case TokenType::String:
      return "a string";
    case TokenType::Integer:
    case TokenType::Float:
      return "a number";
    case TokenType::End:
      return "end of template";
    default:
      return "'" + token.text + "'";
  }
}

void Parser::error(SourcePos pos, const std::string& message) const { syntax_error(name_, pos, message); }

DepthGuard Parser::nest(SourcePos pos) {
  return DepthGuard(nesting_, kMaxSyntaxDepth,
                    [&] { error(pos, fmt::format("template nests deeper than {} levels", kMaxSyntaxDepth)); });
}

void Parser::unexpected(const std::string& wanted) const {
  std::string message = fmt::format("expected {}, got {}", wanted, describe(current()));
  if (current().type == TokenType::End && !open_tags_.empty()) {
    const OpenTag& open = open_tags_.back();
    message =
        fmt::format("unexpected end of template: '{}' opened at line {} is never closed", open.name, open.pos.line);
  }
  error(current().pos, message);
}

StmtList Parser::subparse(std::initializer_list<std::string_view> end_tags) {
  StmtList body;
  while (current().type != TokenType::End) {
    const Token& token = current();
    if (token.type == TokenType::Data) {
      body.push_back(std::make_unique<TextStmt>(token.pos, token.text));
      next();
    } else if (token.type == TokenType::VariableBegin) {
      next();
      ExprPtr expr = parse_tuple(/*with_condexpr=*/true, "", /*explicit_parentheses=*/false);
      body.push_back(std::make_unique<PrintStmt>(token.pos, std::move(expr)));
      if (current().type != TokenType::VariableEnd) unexpected("'}}'");
      next();
    } else if (token.type == TokenType::BlockBegin) {
      next();
      if (current().type == TokenType::Name &&
          std::find(end_tags.begin(), end_tags.end(), current().text) != end_tags.end()) {
        return body;
      }
      parse_statement(body);
      expect_block_end();
    } else {
      unexpected("template text or a tag");
    }
  }
  return body;
}

StmtList Parser::parse_statements(std::initializer_list<std::string_view> end_tags, bool drop_needle) {
  skip_op(":");
  expect_block_end();
  StmtList body = subparse(end_tags);
  if (current().type == TokenType::End) {
    std::string wanted;
    for (std::string_view tag : end_tags) wanted += (wanted.empty() ? "'" : " or '") + std::string(tag) + "'";
    unexpected(wanted);
  }
  if (drop_needle) next();
  return body;
}

void Parser::parse_statement(StmtList& out) {
  const Token& token = current();
  DepthGuard guard = nest(token.pos);
  if (token.type != TokenType::Name) unexpected("a tag name");
  std::string tag = token.text;
  SourcePos pos = token.pos;
  open_tags_.push_back({tag, pos});
  if (tag == "for") {
    out.push_back(parse_for());
  } else if (tag == "if") {
    out.push_back(parse_if());
  } else if (tag == "set") {
    out.push_back(parse_set());
  } else if (tag == "macro") {
    out.push_back(parse_macro());
  } else if (tag == "call") {
    out.push_back(parse_call_block());
  } else if (tag == "filter") {
    out.push_back(parse_filter_block());
  } else if (tag == "with") {
    out.push_back(parse_with());
  } else if (tag == "generation") {
    next();
    auto scoped = std::make_unique<ScopedStmt>(pos);
    scoped->body = parse_statements({"endgeneration"}, /*drop_needle=*/true);
    out.push_back(std::move(scoped));
  } else if (tag == "break" || tag == "continue") {
    if (loop_depth_ == 0) error(pos, fmt::format("'{}' outside of a loop", tag));
    next();
    out.push_back(std::make_unique<Stmt>(tag == "break" ? StmtKind::Break : StmtKind::Continue, pos));
  } else if (tag == "print") {
    next();
    for (bool first = true; current().type != TokenType::BlockEnd; first = false) {
      if (!first) expect_op(",");
      SourcePos expr_pos = current().pos;
      out.push_back(std::make_unique<PrintStmt>(expr_pos, parse_expression()));
    }
  } else if (tag == "block" || tag == "extends" || tag == "include" || tag == "import" || tag == "from" ||
             tag == "autoescape" || tag == "do") {
    error(pos, fmt::format("unsupported tag '{}'", tag));
  } else {
    std::string hint;
    if (open_tags_.size() > 1) {
      const OpenTag& open = open_tags_[open_tags_.size() - 2];
      hint = fmt::format(" (the innermost open tag is '{}' from line {})", open.name, open.pos.line);
    }
    error(pos, fmt::format("unknown tag '{}'{}", tag, hint));
  }
  open_tags_.pop_back();
}

StmtPtr Parser::parse_for() {
  auto node = std::make_unique<ForStmt>(next().pos);
  node->target = parse_assign_target(/*with_namespace=*/false, "in");
  if (!skip_name("in")) unexpected("'in'");
  node->iterable = parse_tuple(/*with_condexpr=*/false, "recursive", /*explicit_parentheses=*/false);
  if (skip_name("if")) node->filter = parse_expression();
  if (is_name("recursive")) error(current().pos, "unsupported: recursive for loops");
  ++loop_depth_;
  mentioned_names_.emplace_back();
  node->body = parse_statements({"endfor", "else"}, /*drop_needle=*/false);
  node->uses_loop = mentioned_names_.back().count("loop") > 0;
  mentioned_names_.pop_back();
  --loop_depth_;
  if (next().text == "else") node->else_body = parse_statements({"endfor"}, /*drop_needle=*/true);
  return node;
}

StmtPtr Parser::parse_if() {
  auto node = std::make_unique<IfStmt>(next().pos);
  while (true) {
    ExprPtr condition = parse_tuple(/*with_condexpr=*/false, "", /*explicit_parentheses=*/false);
    StmtList body = parse_statements({"elif", "else", "endif"}, /*drop_needle=*/false);
    node->branches.emplace_back(std::move(condition), std::move(body));
    std::string tag = next().text;
    if (tag == "elif") continue;
    if (tag == "else") node->else_body = parse_statements({"endif"}, /*drop_needle=*/true);
    break;
  }
  return node;
}

StmtPtr Parser::parse_set() {
  SourcePos pos = next().pos;
  AssignTarget target = parse_assign_target(/*with_namespace=*/true, "");
  if (skip_op("=")) {
    auto node = std::make_unique<SetStmt>(pos);
    node->target = std::move(target);
    node->value = parse_tuple(/*with_condexpr=*/true, "", /*explicit_parentheses=*/false);
    return node;
  }
  auto node = std::make_unique<SetBlockStmt>(pos);
  node->target = std::move(target);
  node->filter = parse_filter(nullptr, /*start_inline=*/false);
  node->body = parse_statements({"endset"}, /*drop_needle=*/true);
  return node;
}

void Parser::parse_signature(MacroStmt& macro) {
  expect_op("(");
  while (!is_op(")")) {
    if (!macro.params.empty()) expect_op(",");
    MacroParam param;
    param.name = expect_name();
    if (skip_op("=")) {
      param.default_value = parse_expression();
    } else if (!macro.params.empty() && macro.params.back().default_value) {
      error(current().pos, "non-default argument follows default argument");
    }
    macro.params.push_back(std::move(param));
  }
  expect_op(")");
}

StmtPtr Parser::parse_macro() {
  auto node = std::make_unique<MacroStmt>(next().pos);
  node->name = expect_name();
  parse_signature(*node);
  int saved_loop_depth = loop_depth_;
  loop_depth_ = 0;
  mentioned_names_.emplace_back();
  node->body = parse_statements({"endmacro"}, /*drop_needle=*/true);
  const auto& names = mentioned_names_.back();
  node->uses_varargs = names.count("varargs") > 0;
  node->uses_kwargs = names.count("kwargs") > 0;
  node->uses_caller = names.count("caller") > 0;
  mentioned_names_.pop_back();
  loop_depth_ = saved_loop_depth;
  return node;
}

StmtPtr Parser::parse_call_block() {
  auto node = std::make_unique<CallBlockStmt>(next().pos);
  node->caller = std::make_unique<MacroStmt>(node->pos);
  node->caller->name = "caller";
  if (is_op("(")) parse_signature(*node->caller);
  SourcePos call_pos = current().pos;
  node->call = parse_expression();
  if (node->call->kind != ExprKind::Call) error(call_pos, "expected a call after 'call'");
  int saved_loop_depth = loop_depth_;
  loop_depth_ = 0;
  mentioned_names_.emplace_back();
  node->caller->body = parse_statements({"endcall"}, /*drop_needle=*/true);
  node->caller->uses_varargs = mentioned_names_.back().count("varargs") > 0;
  node->caller->uses_kwargs = mentioned_names_.back().count("kwargs") > 0;
  mentioned_names_.pop_back();
  loop_depth_ = saved_loop_depth;
  return node;
}

StmtPtr Parser::parse_filter_block() {
  auto node = std::make_unique<FilterBlockStmt>(next().pos);
  node->filter = parse_filter(nullptr, /*start_inline=*/true);
  node->body = parse_statements({"endfilter"}, /*drop_needle=*/true);
  return node;
}

StmtPtr Parser::parse_with() {
  auto node = std::make_unique<WithStmt>(next().pos);
  while (current().type != TokenType::BlockEnd) {
    if (!node->targets.empty()) expect_op(",");
    node->targets.push_back(parse_assign_target(/*with_namespace=*/false, ""));
    expect_op("=");
    node->values.push_back(parse_expression());
  }
  node->body = parse_statements({"endwith"}, /*drop_needle=*/true);
  return node;
}

AssignTarget Parser::parse_target_primary(bool with_namespace) {
  const Token& token = current();
  if (token.type == TokenType::Name) {
    static const char* kConstants[] = {"true", "false", "True", "False", "none", "None"};
    for (const char* constant : kConstants) {
      if (token.text == constant) error(token.pos, fmt::format("cannot assign to '{}'", constant));
    }
    AssignTarget target;
    target.pos = token.pos;
    target.name = next().text;
    if (with_namespace && skip_op(".")) {
      target.kind = AssignTarget::Kind::NamespaceAttr;
      target.attribute = expect_name();
    }
    return target;
  }
  if (skip_op("(")) {
    AssignTarget target = parse_assign_target(with_namespace, "");
    expect_op(")");
    return target;
  }
  unexpected("an assignment target");
}

AssignTarget Parser::parse_assign_target(bool with_namespace, std::string_view end_name) {
  AssignTarget tuple;
  tuple.kind = AssignTarget::Kind::Tuple;
  tuple.pos = current().pos;
  bool is_tuple = false;
  while (true) {
    if (!tuple.elements.empty()) expect_op(",");
    bool at_end = current().type == TokenType::BlockEnd || current().type == TokenType::VariableEnd || is_op(")") ||
                  (!end_name.empty() && is_name(end_name)) || is_op("=");
    if (at_end) break;
    tuple.elements.push_back(parse_target_primary(with_namespace));
    if (!is_op(",")) break;
    is_tuple = true;
  }
  if (tuple.elements.empty()) unexpected("an assignment target");
  if (!is_tuple) return std::move(tuple.elements[0]);
  return tuple;
}

}  // namespace flotilla::chat
