// Statement execution: output, if/for/set/macro/call/filter/with blocks and loop controls,
// with jinja2's scoping (a `set` inside a loop body or macro stays there) and the render limits.
#include "chat/evaluator.h"

#include "chat/builtins/builtins.h"
#include "core/error.h"

namespace flotilla::chat {

namespace {

// Macros and call-block callers close over the scope they were defined in.
class MacroCallable final : public Callable {
 public:
  MacroCallable(const MacroStmt& macro, std::weak_ptr<Scope> scope)
      : Callable(macro.name), macro_(macro), scope_(std::move(scope)) {}

  Value call(Evaluator& evaluator, CallArgs& args) const override {
    ScopePtr scope = scope_.lock();
    if (!scope) runtime_fail("macro '{}' called after its render ended", macro_.name);
    return evaluator.call_macro(macro_, scope, args);
  }

 private:
  const MacroStmt& macro_;
  std::weak_ptr<Scope> scope_;
};

}  // namespace

const Value* Scope::find(const std::string& name) const {
  for (const Scope* scope = this; scope; scope = scope->parent_.get()) {
    auto it = scope->vars_.find(name);
    if (it != scope->vars_.end()) return &it->second;
  }
  return nullptr;
}

Evaluator::Evaluator(const std::string& template_name, const TemplateLimits& limits)
    : name_(template_name), limits_(limits) {}

std::string Evaluator::render(const StmtList& body, const Value& context) {
  auto globals = std::make_shared<Scope>(nullptr);
  for (auto& [name, function] : global_functions()) globals->set(name, std::move(function));
  auto variables = std::make_shared<Scope>(globals);
  for (const auto& [key, value] : context.dict_data().entries) {
    if (key.is_string()) variables->set(key.str(), value);
  }
  auto root = std::make_shared<Scope>(variables);
  RenderBudget budget(100 * limits_.max_loop_iterations, limits_.max_output_bytes);
  std::string out;
  try {
    exec_body(body, root, out);
  } catch (const PositionedError& error) {
    pinned_scopes_.clear();
    fail("chat_template", "{}:{}:{}: {}", name_, error.pos.line, error.pos.column, error.what());
  } catch (const TemplateError& error) {
    pinned_scopes_.clear();
    fail("chat_template", "{}: {}", name_, error.what());
  } catch (const std::bad_alloc&) {
    pinned_scopes_.clear();
    fail("chat_template", "{}: out of memory while rendering", name_);
  }
  pinned_scopes_.clear();
  return out;
}

void Evaluator::emit(std::string& out, std::string_view text) const {
  if (out.size() + text.size() > limits_.max_output_bytes) {
    runtime_fail("output exceeds max_output_bytes ({} bytes)", limits_.max_output_bytes);
  }
  out.append(text);
}

DepthGuard Evaluator::enter_frame() {
  return DepthGuard(eval_depth_, kMaxEvalDepth, [] {
    runtime_fail("template evaluation nests deeper than {} frames (macro recursion times expression depth)",
                 kMaxEvalDepth);
  });
}

void Evaluator::count_loop_iteration() {
  if (++loop_iterations_ > limits_.max_loop_iterations) {
    runtime_fail("loop iterations exceed max_loop_iterations ({})", limits_.max_loop_iterations);
  }
}

void Evaluator::check_string_size(size_t bytes) const {
  if (bytes > limits_.max_output_bytes) {
    runtime_fail("a string of {} bytes exceeds max_output_bytes ({} bytes)", bytes, limits_.max_output_bytes);
  }
}

void Evaluator::check_list_size(size_t items) const {
  if (items > static_cast<size_t>(limits_.max_loop_iterations)) {
    runtime_fail("a list of {} items exceeds max_loop_iterations ({})", items, limits_.max_loop_iterations);
  }
}

Flow Evaluator::exec_body(const StmtList& body, const ScopePtr& scope, std::string& out) {
  for (const auto& stmt : body) {
    Flow flow = exec(*stmt, scope, out);
    if (flow != Flow::Normal) return flow;
  }
  return Flow::Normal;
}

Flow Evaluator::exec(const Stmt& stmt, const ScopePtr& scope, std::string& out) {
  try {
    DepthGuard guard = enter_frame();
    return exec_node(stmt, scope, out);
  } catch (const PositionedError&) {
    throw;
  } catch (const TemplateError& error) {
    throw PositionedError(error.what(), stmt.pos);
  }
}

std::string Evaluator::capture(const StmtList& body, const ScopePtr& scope) {
  std::string text;
  exec_body(body, std::make_shared<Scope>(scope), text);
  return text;
}

Flow Evaluator::exec_node(const Stmt& stmt, const ScopePtr& scope, std::string& out) {
  switch (stmt.kind) {
    case StmtKind::Text:
      emit(out, static_cast<const TextStmt&>(stmt).text);
      return Flow::Normal;
    case StmtKind::Print:
      emit(out, to_str(eval(*static_cast<const PrintStmt&>(stmt).expr, scope), limits_.max_output_bytes));
      return Flow::Normal;
    case StmtKind::If: {
      const auto& node = static_cast<const IfStmt&>(stmt);
      for (const auto& [condition, body] : node.branches) {
        if (truthy(eval(*condition, scope))) return exec_body(body, scope, out);
      }
      return exec_body(node.else_body, scope, out);
    }
    case StmtKind::For:
      return exec_for(static_cast<const ForStmt&>(stmt), scope, out);
    case StmtKind::Set: {
      const auto& node = static_cast<const SetStmt&>(stmt);
      assign(node.target, eval(*node.value, scope), scope);
      return Flow::Normal;
    }
    case StmtKind::SetBlock: {
      const auto& node = static_cast<const SetBlockStmt&>(stmt);
      Value text(capture(node.body, scope));
      if (node.filter) text = apply_filter_chain(static_cast<const FilterExpr&>(*node.filter), &text, scope);
      assign(node.target, text, scope);
      return Flow::Normal;
    }
    case StmtKind::Macro: {
      const auto& node = static_cast<const MacroStmt&>(stmt);
      scope->set(node.name, define_macro(node, scope));
      return Flow::Normal;
    }
    case StmtKind::CallBlock:
      exec_call_block(static_cast<const CallBlockStmt&>(stmt), scope, out);
      return Flow::Normal;
    case StmtKind::FilterBlock: {
      const auto& node = static_cast<const FilterBlockStmt&>(stmt);
      Value text(capture(node.body, scope));
      emit(out, to_str(apply_filter_chain(static_cast<const FilterExpr&>(*node.filter), &text, scope)));
      return Flow::Normal;
    }
    case StmtKind::With: {
      const auto& node = static_cast<const WithStmt&>(stmt);
      auto inner = std::make_shared<Scope>(scope);
      for (size_t i = 0; i < node.targets.size(); ++i) assign(node.targets[i], eval(*node.values[i], scope), inner);
      return exec_body(node.body, inner, out);
    }
    case StmtKind::Scoped:
      emit(out, capture(static_cast<const ScopedStmt&>(stmt).body, scope));
      return Flow::Normal;
    case StmtKind::Break:
      return Flow::Break;
    case StmtKind::Continue:
      return Flow::Continue;
  }
  return Flow::Normal;
}

Value Evaluator::make_loop_object(const std::vector<Value>& items, size_t index,
                                  const std::shared_ptr<Value>& last_changed) {
  auto loop = std::make_shared<DictData>();
  loop->read_only = true;
  auto count = static_cast<int64_t>(items.size());
  auto i = static_cast<int64_t>(index);
  auto add = [&](const char* key, Value value) { loop->entries.emplace_back(Value(key), std::move(value)); };
  add("index", Value(i + 1));
  add("index0", Value(i));
  add("revindex", Value(count - i));
  add("revindex0", Value(count - i - 1));
  add("first", Value(i == 0));
  add("last", Value(i == count - 1));
  add("length", Value(count));
  add("depth", Value(int64_t{1}));
  add("depth0", Value(int64_t{0}));
  add("previtem", i > 0 ? items[index - 1] : Value::undefined("there is no previous item"));
  add("nextitem", i + 1 < count ? items[index + 1] : Value::undefined("there is no next item"));
  add("cycle", Value::native("cycle", [i](Evaluator&, CallArgs& args) {
        if (args.positional.empty()) runtime_fail("no items for cycling given");
        return args.positional[static_cast<size_t>(i) % args.positional.size()];
      }));
  add("changed", Value::native("changed", [last_changed](Evaluator&, CallArgs& args) {
        Value current = Value::tuple(args.positional);
        if (!last_changed->is_undefined() && equals(*last_changed, current)) return Value(false);
        *last_changed = current;
        return Value(true);
      }));
  return Value::dict(std::move(loop));
}

Flow Evaluator::exec_for(const ForStmt& stmt, const ScopePtr& scope, std::string& out) {
  Value iterable = eval(*stmt.iterable, scope);
  std::vector<Value> items = iterate(iterable);
  if (stmt.filter) {
    std::vector<Value> kept;
    for (Value& item : items) {
      count_loop_iteration();
      auto test_scope = std::make_shared<Scope>(scope);
      assign(stmt.target, item, test_scope);
      if (truthy(eval(*stmt.filter, test_scope))) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  if (items.empty()) return exec_body(stmt.else_body, std::make_shared<Scope>(scope), out);
  auto last_changed = std::make_shared<Value>();
  for (size_t i = 0; i < items.size(); ++i) {
    count_loop_iteration();
    auto iteration = std::make_shared<Scope>(scope);
    assign(stmt.target, items[i], iteration);
    if (stmt.uses_loop) iteration->set("loop", make_loop_object(items, i, last_changed));
    if (exec_body(stmt.body, iteration, out) == Flow::Break) break;
  }
  return Flow::Normal;
}

void Evaluator::assign(const AssignTarget& target, const Value& value, const ScopePtr& scope) {
  switch (target.kind) {
    case AssignTarget::Kind::Name:
      scope->set(target.name, value);
      return;
    case AssignTarget::Kind::Tuple: {
      std::vector<Value> items = iterate(value);
      if (items.size() != target.elements.size()) {
        runtime_fail("{} values to unpack (expected {}, got {})",
                     items.size() > target.elements.size() ? "too many" : "not enough", target.elements.size(),
                     items.size());
      }
      for (size_t i = 0; i < items.size(); ++i) assign(target.elements[i], items[i], scope);
      return;
    }
    case AssignTarget::Kind::NamespaceAttr: {
      const Value* object = scope->find(target.name);
      if (!object || object->kind() != Kind::Namespace) runtime_fail("cannot assign attribute on non-namespace object");
      bool holds_namespace =
          value.kind() == Kind::Namespace ||
          ((value.is_sequence_like() || value.kind() == Kind::Iterator) && value.list_data().has_namespace) ||
          (value.kind() == Kind::Dict && value.dict_data().has_namespace);
      if (holds_namespace) runtime_fail("unsupported: storing a namespace inside a namespace");
      DictData& attributes = object->dict_data();
      if (value.depth() + 1 > kMaxValueDepth) runtime_fail("value nesting exceeds {} levels", kMaxValueDepth);
      attributes.set(Value(target.attribute), value);
      attributes.depth = std::max(attributes.depth, value.depth() + 1);
      return;
    }
  }
}

Value Evaluator::define_macro(const MacroStmt& macro, const ScopePtr& scope) {
  if (pinned_scopes_.empty() || pinned_scopes_.back() != scope) pinned_scopes_.push_back(scope);
  return Value::callable(std::make_shared<MacroCallable>(macro, scope));
}

void Evaluator::exec_call_block(const CallBlockStmt& stmt, const ScopePtr& scope, std::string& out) {
  const auto& call = static_cast<const CallExpr&>(*stmt.call);
  Value callee = eval(*call.callee, scope);
  CallArgs args = eval_args(call.args, scope);
  args.keyword.emplace_back("caller", define_macro(*stmt.caller, scope));
  emit(out, to_str(this->call(callee, args)));
}

Value Evaluator::call_macro(const MacroStmt& macro, const ScopePtr& defining_scope, CallArgs& args) {
  if (macro_depth_ >= limits_.max_recursion_depth) {
    runtime_fail("macro calls nest deeper than max_recursion_depth ({})", limits_.max_recursion_depth);
  }
  struct DepthCount {
    int& depth;
    ~DepthCount() { --depth; }
  } count{++macro_depth_};
  auto scope = std::make_shared<Scope>(defining_scope);
  size_t param_count = macro.params.size();
  std::vector<const Value*> bound(param_count, nullptr);
  for (size_t i = 0; i < param_count && i < args.positional.size(); ++i) bound[i] = &args.positional[i];
  auto take_keyword = [&](const std::string& name) -> const Value* {
    for (auto& entry : args.keyword) {
      if (entry.first == name) {
        entry.first.clear();  // consumed
        return &entry.second;
      }
    }
    return nullptr;
  };
  bool found_caller = false;
  for (size_t i = args.positional.size(); i < param_count; ++i) {
    bound[i] = take_keyword(macro.params[i].name);
    found_caller |= macro.params[i].name == "caller";
  }
  for (size_t i = 0; i < param_count; ++i) {
    const MacroParam& param = macro.params[i];
    if (bound[i]) {
      scope->set(param.name, *bound[i]);
    } else if (param.default_value) {
      scope->set(param.name, eval(*param.default_value, scope));
    } else {
      scope->set(param.name, Value::undefined(fmt::format("parameter '{}' was not provided", param.name)));
    }
  }
  if (macro.uses_caller && !found_caller) {
    const Value* caller = take_keyword("caller");
    scope->set("caller", caller ? *caller : Value::undefined("No caller defined"));
  }
  auto extra_keywords = std::make_shared<DictData>();
  for (const auto& [key, value] : args.keyword) {
    if (!key.empty()) extra_keywords->entries.emplace_back(Value(key), value);
  }
  if (macro.uses_kwargs) {
    finish_container(*extra_keywords);
    scope->set("kwargs", Value::dict(extra_keywords));
  } else if (!extra_keywords->entries.empty()) {
    runtime_fail("macro '{}' takes no keyword argument '{}'", macro.name, extra_keywords->entries[0].first.str());
  }
  if (macro.uses_varargs) {
    std::vector<Value> extra;
    for (size_t i = param_count; i < args.positional.size(); ++i) extra.push_back(args.positional[i]);
    scope->set("varargs", Value::tuple(std::move(extra)));
  } else if (args.positional.size() > param_count) {
    runtime_fail("macro '{}' takes not more than {} argument(s)", macro.name, param_count);
  }
  std::string text;
  exec_body(macro.body, scope, text);
  return Value(std::move(text));
}

}  // namespace flotilla::chat
