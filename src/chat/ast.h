// Syntax tree of a parsed template: expressions and statements, following jinja2/nodes.py.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat/lexer.h"
#include "chat/value.h"

namespace flotilla::chat {

using FilterFunction = Value (*)(Evaluator& evaluator, const Value& input, CallArgs& args);
using TestFunction = bool (*)(Evaluator& evaluator, const Value& input, CallArgs& args);

enum class ExprKind {
  Literal,
  Name,
  GetAttr,
  GetItem,
  Slice,
  List,
  Tuple,
  Dict,
  Unary,
  Binary,
  Concat,
  Compare,
  Call,
  Filter,
  Test,
  Conditional,
};

struct Expr {
  Expr(ExprKind kind, SourcePos pos) : kind(kind), pos(pos) {}
  virtual ~Expr() = default;
  ExprKind kind;
  SourcePos pos;
  int depth = 1;  // height of the subtree, bounded by the parser
};
using ExprPtr = std::unique_ptr<Expr>;

struct LiteralExpr : Expr {
  LiteralExpr(SourcePos pos, Value value) : Expr(ExprKind::Literal, pos), value(std::move(value)) {}
  Value value;
};

struct NameExpr : Expr {
  NameExpr(SourcePos pos, std::string name) : Expr(ExprKind::Name, pos), name(std::move(name)) {}
  std::string name;
};

struct GetAttrExpr : Expr {
  GetAttrExpr(SourcePos pos, ExprPtr object, std::string attribute)
      : Expr(ExprKind::GetAttr, pos), object(std::move(object)), attribute(std::move(attribute)) {}
  ExprPtr object;
  std::string attribute;
};

struct GetItemExpr : Expr {
  GetItemExpr(SourcePos pos, ExprPtr object, ExprPtr index)
      : Expr(ExprKind::GetItem, pos), object(std::move(object)), index(std::move(index)) {}
  ExprPtr object;
  ExprPtr index;  // may be a SliceExpr
};

struct SliceExpr : Expr {
  explicit SliceExpr(SourcePos pos) : Expr(ExprKind::Slice, pos) {}
  ExprPtr start, stop, step;  // each may be null
};

struct SequenceExpr : Expr {  // List or Tuple
  SequenceExpr(ExprKind kind, SourcePos pos) : Expr(kind, pos) {}
  std::vector<ExprPtr> items;
};

struct DictExpr : Expr {
  explicit DictExpr(SourcePos pos) : Expr(ExprKind::Dict, pos) {}
  std::vector<std::pair<ExprPtr, ExprPtr>> pairs;
};

enum class UnaryOp { Not, Negate, Plus };
struct UnaryExpr : Expr {
  UnaryExpr(SourcePos pos, UnaryOp op, ExprPtr operand)
      : Expr(ExprKind::Unary, pos), op(op), operand(std::move(operand)) {}
  UnaryOp op;
  ExprPtr operand;
};

enum class BinaryOp { Add, Sub, Mul, Div, FloorDiv, Mod, Pow, And, Or };
struct BinaryExpr : Expr {
  BinaryExpr(SourcePos pos, BinaryOp op, ExprPtr left, ExprPtr right)
      : Expr(ExprKind::Binary, pos), op(op), left(std::move(left)), right(std::move(right)) {}
  BinaryOp op;
  ExprPtr left, right;
};

struct ConcatExpr : Expr {  // a ~ b ~ c
  explicit ConcatExpr(SourcePos pos) : Expr(ExprKind::Concat, pos) {}
  std::vector<ExprPtr> parts;
};

enum class CompareOp { Eq, Ne, Lt, Le, Gt, Ge, In, NotIn };
struct CompareExpr : Expr {  // chained like Python: a < b < c
  CompareExpr(SourcePos pos, ExprPtr first) : Expr(ExprKind::Compare, pos), first(std::move(first)) {}
  ExprPtr first;
  std::vector<std::pair<CompareOp, ExprPtr>> rest;
};

struct ArgumentExprs {
  std::vector<ExprPtr> positional;
  std::vector<std::pair<std::string, ExprPtr>> keyword;
};

struct CallExpr : Expr {
  CallExpr(SourcePos pos, ExprPtr callee) : Expr(ExprKind::Call, pos), callee(std::move(callee)) {}
  ExprPtr callee;
  ArgumentExprs args;
};

struct FilterExpr : Expr {
  FilterExpr(SourcePos pos, ExprPtr operand, std::string name)
      : Expr(ExprKind::Filter, pos), operand(std::move(operand)), name(std::move(name)) {}
  ExprPtr operand;  // null for the innermost filter of a filter block or `set` block
  std::string name;
  ArgumentExprs args;
  FilterFunction function = nullptr;
};

struct TestExpr : Expr {
  TestExpr(SourcePos pos, ExprPtr operand, std::string name)
      : Expr(ExprKind::Test, pos), operand(std::move(operand)), name(std::move(name)) {}
  ExprPtr operand;
  std::string name;
  ArgumentExprs args;
  TestFunction function = nullptr;
};

struct ConditionalExpr : Expr {  // then_expr if condition else else_expr
  explicit ConditionalExpr(SourcePos pos) : Expr(ExprKind::Conditional, pos) {}
  ExprPtr condition, then_expr, else_expr;  // else_expr may be null: yields undefined
};

enum class StmtKind {
  Text,
  Print,
  If,
  For,
  Set,
  SetBlock,
  Macro,
  CallBlock,
  FilterBlock,
  With,
  Scoped,
  Break,
  Continue
};

struct Stmt {
  Stmt(StmtKind kind, SourcePos pos) : kind(kind), pos(pos) {}
  virtual ~Stmt() = default;
  StmtKind kind;
  SourcePos pos;
};
using StmtPtr = std::unique_ptr<Stmt>;
using StmtList = std::vector<StmtPtr>;

struct TextStmt : Stmt {
  TextStmt(SourcePos pos, std::string text) : Stmt(StmtKind::Text, pos), text(std::move(text)) {}
  std::string text;
};

struct PrintStmt : Stmt {
  PrintStmt(SourcePos pos, ExprPtr expr) : Stmt(StmtKind::Print, pos), expr(std::move(expr)) {}
  ExprPtr expr;
};

struct IfStmt : Stmt {
  explicit IfStmt(SourcePos pos) : Stmt(StmtKind::If, pos) {}
  std::vector<std::pair<ExprPtr, StmtList>> branches;
  StmtList else_body;
};

// A `set`/`for`/`with` target: a name, a tuple of targets, or `namespace.attribute`.
struct AssignTarget {
  enum class Kind { Name, Tuple, NamespaceAttr } kind = Kind::Name;
  std::string name;
  std::string attribute;
  std::vector<AssignTarget> elements;
  SourcePos pos;
};

struct ForStmt : Stmt {
  explicit ForStmt(SourcePos pos) : Stmt(StmtKind::For, pos) {}
  AssignTarget target;
  ExprPtr iterable;
  ExprPtr filter;  // `for x in xs if cond`
  StmtList body, else_body;
  bool uses_loop = false;  // the body mentions `loop`, so the loop object is built
};

struct SetStmt : Stmt {
  explicit SetStmt(SourcePos pos) : Stmt(StmtKind::Set, pos) {}
  AssignTarget target;
  ExprPtr value;
};

struct SetBlockStmt : Stmt {
  explicit SetBlockStmt(SourcePos pos) : Stmt(StmtKind::SetBlock, pos) {}
  AssignTarget target;
  ExprPtr filter;  // optional FilterExpr chain applied to the captured text
  StmtList body;
};

struct MacroParam {
  std::string name;
  ExprPtr default_value;
};

struct MacroStmt : Stmt {
  explicit MacroStmt(SourcePos pos) : Stmt(StmtKind::Macro, pos) {}
  std::string name;
  std::vector<MacroParam> params;
  StmtList body;
  // Jinja only accepts extra positional/keyword arguments when the body reads varargs/kwargs.
  bool uses_varargs = false, uses_kwargs = false, uses_caller = false;
};

struct CallBlockStmt : Stmt {
  explicit CallBlockStmt(SourcePos pos) : Stmt(StmtKind::CallBlock, pos) {}
  ExprPtr call;                       // a CallExpr
  std::unique_ptr<MacroStmt> caller;  // the block body, callable as caller()
};

struct FilterBlockStmt : Stmt {
  explicit FilterBlockStmt(SourcePos pos) : Stmt(StmtKind::FilterBlock, pos) {}
  ExprPtr filter;
  StmtList body;
};

struct WithStmt : Stmt {
  explicit WithStmt(SourcePos pos) : Stmt(StmtKind::With, pos) {}
  std::vector<AssignTarget> targets;
  std::vector<ExprPtr> values;
  StmtList body;
};

struct ScopedStmt : Stmt {  // `{% generation %}`: renders its body in a child scope
  explicit ScopedStmt(SourcePos pos) : Stmt(StmtKind::Scoped, pos) {}
  StmtList body;
};

}  // namespace flotilla::chat
