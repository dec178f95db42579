// Learning-rate schedules with mlx-lm's names and argument order, plus linear warm-up:
// lr_schedule: {name: cosine_decay, arguments: [1e-5, 1000], warmup: 100, warmup_init: 1e-7}.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace flotilla::train {

struct ScheduleConfig {
  std::string name;  // cosine_decay, linear_schedule, exponential_decay, step_decay
  std::vector<double> arguments;
  int64_t warmup = 0;
  double warmup_init = 0.0;
};

class LearningRateSchedule {
 public:
  // Without a schedule the rate is constant. Validates the arguments for the named schedule.
  LearningRateSchedule(double learning_rate, std::optional<ScheduleConfig> schedule);
  double at(int64_t step) const;  // for the update number `step`, counted from 0

 private:
  double main(int64_t step) const;
  double learning_rate_;
  std::optional<ScheduleConfig> schedule_;
};

}  // namespace flotilla::train
