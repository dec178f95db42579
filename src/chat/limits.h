// Sandbox limits of the template interpreter: fixed bounds on sizes and nesting, a depth guard and
// the render's work budget. The limits a caller tunes are TemplateLimits (flotilla/chat_template.h).
#pragma once
#include <cstddef>
#include <cstdint>

namespace flotilla::chat {

class Value;

// Model folders are untrusted too: template sources and config files larger than this are refused unread.
inline constexpr std::uintmax_t kMaxConfigBytes = 64u << 20;

// Bound on expression and block nesting, so parsing, evaluation and destruction of the tree
// stay well inside the C++ stack.
inline constexpr int kMaxSyntaxDepth = 200;

// Bound on nested evaluation frames (macro recursion times expression depth), well inside the C++ stack.
inline constexpr int kMaxEvalDepth = 2000;

// Nesting bound for lists, dicts and namespaces, so recursive printing, comparison,
// JSON dumping and destruction never exhaust the C++ stack.
inline constexpr int kMaxValueDepth = 512;

// jinja2.sandbox.MAX_RANGE: the sandbox refuses larger ranges.
inline constexpr int64_t kMaxRange = 100000;

// Counts one level of recursion in `depth` for its lifetime, so hostile nesting fails with an
// error, not a stack overflow: past `limit`, `overflow` is called and must throw.
class DepthGuard {
 public:
  template <typename Overflow>
  DepthGuard(int& depth, int limit, Overflow&& overflow) : depth_(depth) {
    if (depth_ + 1 > limit) overflow();
    ++depth_;
  }
  ~DepthGuard() { --depth_; }
  DepthGuard(const DepthGuard&) = delete;
  DepthGuard& operator=(const DepthGuard&) = delete;

 private:
  int& depth_;
};

// Bounds of the render running on this thread: copying work (string bytes/64, list and dict
// items), so quadratic patterns like `ns.x = ns.x + [i]` in long loops fail instead of running
// for hours, and the size of any printed value.
class RenderBudget {
 public:
  RenderBudget(int64_t work_limit, size_t max_string_bytes);  // active until destroyed
  ~RenderBudget();
  RenderBudget(const RenderBudget&) = delete;
  RenderBudget& operator=(const RenderBudget&) = delete;
  static void charge(int64_t units);
  static size_t max_string_bytes();  // SIZE_MAX outside a render
  // Charges one read of `value`: string bytes/64 or container items (filters, methods, tests, `in`).
  static void charge_read(const Value& value);

 private:
  int64_t work_limit_;
  int64_t used_ = 0;
  size_t max_string_bytes_;
  RenderBudget* previous_;
};

}  // namespace flotilla::chat
