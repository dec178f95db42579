// Parses template source into statements, following jinja2/parser.py.
#pragma once
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "chat/ast.h"
#include "chat/lexer.h"
#include "chat/limits.h"

namespace flotilla::chat {

StmtList parse_template(std::string_view source, const std::string& template_name);

class Parser {
 public:
  Parser(std::vector<Token> tokens, const std::string& template_name);
  StmtList parse();

 private:
  // Token stream
  const Token& current() const { return tokens_[index_]; }
  const Token& peek() const { return tokens_[index_ + 1 < tokens_.size() ? index_ + 1 : index_]; }
  const Token& next();
  bool is_name(std::string_view name) const;
  bool is_op(std::string_view op) const;
  bool skip_name(std::string_view name);
  bool skip_op(std::string_view op);
  void expect_op(std::string_view op);
  std::string expect_name();
  void expect_block_end();
  std::string describe(const Token& token) const;
  [[noreturn]] void error(SourcePos pos, const std::string& message) const;
  [[noreturn]] void unexpected(const std::string& wanted) const;

  // Statements (parser.cpp)
  StmtList subparse(std::initializer_list<std::string_view> end_tags);
  StmtList parse_statements(std::initializer_list<std::string_view> end_tags, bool drop_needle);
  void parse_statement(StmtList& out);
  StmtPtr parse_for();
  StmtPtr parse_if();
  StmtPtr parse_set();
  StmtPtr parse_macro();
  StmtPtr parse_call_block();
  StmtPtr parse_filter_block();
  StmtPtr parse_with();
  void parse_signature(MacroStmt& macro);
  AssignTarget parse_assign_target(bool with_namespace, std::string_view end_name);
  AssignTarget parse_target_primary(bool with_namespace);

  // Expressions (parser_expressions.cpp)
  ExprPtr parse_expression(bool with_condexpr = true);
  ExprPtr parse_condexpr();
  ExprPtr parse_or();
  ExprPtr parse_and();
  ExprPtr parse_not();
  ExprPtr parse_compare();
  ExprPtr parse_math1();
  ExprPtr parse_concat();
  ExprPtr parse_math2();
  ExprPtr parse_pow();
  ExprPtr parse_unary(bool with_filter);
  ExprPtr parse_primary();
  ExprPtr parse_tuple(bool with_condexpr, std::string_view end_name, bool explicit_parentheses);
  ExprPtr parse_list();
  ExprPtr parse_dict();
  ExprPtr parse_postfix(ExprPtr node);
  ExprPtr parse_filter_expr(ExprPtr node);
  ExprPtr parse_subscript(ExprPtr node);
  ExprPtr parse_subscribed();
  ExprPtr parse_call(ExprPtr callee);
  ArgumentExprs parse_call_args();
  ExprPtr parse_filter(ExprPtr node, bool start_inline);
  ExprPtr parse_test(ExprPtr node);
  void grow(Expr& parent, const Expr& child) const;  // tracks tree depth against kMaxSyntaxDepth
  DepthGuard nest(SourcePos pos);                     // one level of parser recursion

  struct OpenTag {
    std::string name;
    SourcePos pos;
  };
  std::vector<Token> tokens_;
  size_t index_ = 0;
  const std::string& name_;
  std::vector<OpenTag> open_tags_;
  int loop_depth_ = 0;
  int nesting_ = 0;  // current recursion depth of the parser
  // Names mentioned inside the macro and for bodies being parsed (for varargs/kwargs/caller/loop).
  std::vector<std::unordered_set<std::string>> mentioned_names_;
};

}  // namespace flotilla::chat
