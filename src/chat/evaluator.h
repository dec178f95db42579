// Tree-walking evaluator: jinja2's runtime semantics (scoping, Undefined, macros, loops) under
// the limits of TemplateLimits. One Evaluator renders one template once.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "chat/ast.h"
#include "chat/limits.h"
#include "chat/value.h"
#include "flotilla/chat_template.h"

namespace flotilla::chat {

// A TemplateError that already carries the position of the node that failed.
struct PositionedError : TemplateError {
  PositionedError(const std::string& message, SourcePos pos) : TemplateError(message), pos(pos) {}
  SourcePos pos;
};

// Variables of one frame. Loop iterations, macro calls and blocks get child scopes, so a
// `set` inside them is not seen outside, as in jinja2.
class Scope {
 public:
  explicit Scope(std::shared_ptr<Scope> parent) : parent_(std::move(parent)) {}
  const Value* find(const std::string& name) const;
  void set(const std::string& name, Value value) { vars_[name] = std::move(value); }

 private:
  std::shared_ptr<Scope> parent_;
  std::unordered_map<std::string, Value> vars_;
};
using ScopePtr = std::shared_ptr<Scope>;

enum class Flow { Normal, Break, Continue };

class Evaluator {
 public:
  Evaluator(const std::string& template_name, const TemplateLimits& limits);
  std::string render(const StmtList& body, const Value& context);

  Value call(const Value& callee, CallArgs& args);
  Value call_macro(const MacroStmt& macro, const ScopePtr& defining_scope, CallArgs& args);
  Value apply_filter(std::string_view name, const Value& input, CallArgs& args);  // map('name')
  bool apply_test(std::string_view name, const Value& input, CallArgs& args);     // select('name')
  Value get_attr(const Value& object, const std::string& name);                   // obj.name
  Value get_item(const Value& object, const Value& key);                          // obj[key]

  void count_loop_iteration();
  void check_string_size(size_t bytes) const;
  void check_list_size(size_t items) const;
  const TemplateLimits& limits() const { return limits_; }

 private:
  Flow exec_body(const StmtList& body, const ScopePtr& scope, std::string& out);
  Flow exec(const Stmt& stmt, const ScopePtr& scope, std::string& out);
  Flow exec_node(const Stmt& stmt, const ScopePtr& scope, std::string& out);
  Flow exec_for(const ForStmt& stmt, const ScopePtr& scope, std::string& out);
  void exec_call_block(const CallBlockStmt& stmt, const ScopePtr& scope, std::string& out);
  std::string capture(const StmtList& body, const ScopePtr& scope);
  void assign(const AssignTarget& target, const Value& value, const ScopePtr& scope);
  Value define_macro(const MacroStmt& macro, const ScopePtr& scope);
  // `last_changed` is shared by the iterations of one loop for loop.changed().
  Value make_loop_object(const std::vector<Value>& items, size_t index, const std::shared_ptr<Value>& last_changed);
  void emit(std::string& out, std::string_view text) const;
  DepthGuard enter_frame();  // one nested eval/exec frame, counted against kMaxEvalDepth

  Value eval(const Expr& expr, const ScopePtr& scope);
  Value eval_node(const Expr& expr, const ScopePtr& scope);
  Value eval_get_item(const GetItemExpr& expr, const ScopePtr& scope);
  Value eval_compare(const CompareExpr& expr, const ScopePtr& scope);
  Value eval_call(const CallExpr& expr, const ScopePtr& scope);
  Value apply_filter_chain(const FilterExpr& filter, const Value* input, const ScopePtr& scope);
  CallArgs eval_args(const ArgumentExprs& args, const ScopePtr& scope);

  const std::string& name_;
  const TemplateLimits& limits_;
  int64_t loop_iterations_ = 0;
  int macro_depth_ = 0;
  int eval_depth_ = 0;
  // Scopes that macros were defined in; macros hold weak references, the render keeps them alive.
  std::vector<ScopePtr> pinned_scopes_;
};

// Python operators over values (evaluator_operators.cpp).
Value binary_operation(Evaluator& evaluator, BinaryOp op, const Value& left, const Value& right);
Value unary_operation(UnaryOp op, const Value& operand);
bool compare_operation(CompareOp op, const Value& left, const Value& right);
bool contains(const Value& container, const Value& item);  // Python `item in container`
[[noreturn]] void fail_undefined(const Value& undefined);
// The hint jinja2 gives an undefined attribute or item of `object`.
std::string missing_hint(const Value& object, const Value& key);

}  // namespace flotilla::chat
