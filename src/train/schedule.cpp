#include "train/schedule.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace flotilla::train {

namespace {

void require_arguments(const ScheduleConfig& s, size_t low, size_t high, const char* form) {
  if (s.arguments.size() < low || s.arguments.size() > high)
    fail("schedule", "'{}' takes arguments {}; got {} value(s)", s.name, form, s.arguments.size());
}

}  // namespace

LearningRateSchedule::LearningRateSchedule(double learning_rate, std::optional<ScheduleConfig> schedule)
    : learning_rate_(learning_rate), schedule_(std::move(schedule)) {
  if (!schedule_) return;
  const auto& s = *schedule_;
  if (s.name == "cosine_decay") require_arguments(s, 2, 3, "[init, decay_steps, end=0]");
  else if (s.name == "linear_schedule") require_arguments(s, 3, 3, "[init, end, steps]");
  else if (s.name == "exponential_decay") require_arguments(s, 2, 2, "[init, decay_rate]");
  else if (s.name == "step_decay") require_arguments(s, 3, 3, "[init, decay_rate, step_size]");
  else fail("schedule", "unknown lr_schedule '{}'; supported: cosine_decay, linear_schedule, exponential_decay, step_decay", s.name);
  if (s.warmup < 0) fail("schedule", "warmup must be >= 0, got {}", s.warmup);
}

double LearningRateSchedule::main(int64_t step) const {
  const auto& s = *schedule_;
  const auto& a = s.arguments;
  if (s.name == "cosine_decay") {
    const double end = a.size() > 2 ? a[2] : 0.0;
    const double progress = std::min<double>(step, a[1]) / a[1];
    return end + (a[0] - end) * 0.5 * (1.0 + std::cos(M_PI * progress));
  }
  if (s.name == "linear_schedule") return a[0] + (a[1] - a[0]) * std::min<double>(step, a[2]) / a[2];
  if (s.name == "exponential_decay") return a[0] * std::pow(a[1], static_cast<double>(step));
  return a[0] * std::pow(a[1], static_cast<double>(step / static_cast<int64_t>(a[2])));
}

double LearningRateSchedule::at(int64_t step) const {
  if (!schedule_) return learning_rate_;
  const auto& s = *schedule_;
  // mlx-lm joins linear_schedule(warmup_init, initial, warmup) and the schedule at boundary warmup + 1:
  // step `warmup` is the warm-up's last (the initial rate), step warmup + 1 the schedule's step 0.
  if (s.warmup > 0 && step <= s.warmup)
    return s.warmup_init + (s.arguments[0] - s.warmup_init) * step / static_cast<double>(s.warmup);
  return main(s.warmup > 0 ? step - s.warmup - 1 : step);
}

}  // namespace flotilla::train
