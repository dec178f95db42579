// The render's work budget: one active RenderBudget per thread, charged by value copies and reads.
#include "chat/limits.h"

#include "chat/value.h"

namespace flotilla::chat {

namespace {

thread_local RenderBudget* active_budget = nullptr;

}  // namespace

RenderBudget::RenderBudget(int64_t work_limit, size_t max_string_bytes)
    : work_limit_(work_limit), max_string_bytes_(max_string_bytes), previous_(active_budget) {
  active_budget = this;
}

RenderBudget::~RenderBudget() { active_budget = previous_; }

void RenderBudget::charge(int64_t units) {
  RenderBudget* budget = active_budget;
  if (!budget) return;
  budget->used_ += units;
  if (budget->used_ > budget->work_limit_) {
    runtime_fail("template work exceeds its budget of {} copy units (100 x max_loop_iterations)", budget->work_limit_);
  }
}

void RenderBudget::charge_read(const Value& value) {
  if (!active_budget) return;
  switch (value.kind()) {
    case Kind::String:
      charge(1 + static_cast<int64_t>(value.str().size() / 64));
      break;
    case Kind::List:
    case Kind::Tuple:
    case Kind::Iterator:
      charge(1 + static_cast<int64_t>(value.items().size()));
      break;
    case Kind::Dict:
    case Kind::Namespace:
      charge(1 + static_cast<int64_t>(value.dict_data().entries.size()));
      break;
    default:
      charge(1);
  }
}

size_t RenderBudget::max_string_bytes() { return active_budget ? active_budget->max_string_bytes_ : SIZE_MAX; }

}  // namespace flotilla::chat
