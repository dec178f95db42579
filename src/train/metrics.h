// What training reports: mlx-lm's console lines and one JSON record per report in metrics.jsonl.
#pragma once
#include <nlohmann/json.hpp>

#include <string>

#include "train/trainer.h"

namespace flotilla::train {

std::string format_train_report(const TrainReport& r);  // "Iter 10: Train loss 2.345, Learning Rate ..."
std::string format_val_report(const ValReport& r);      // "Iter 1: Val loss 2.345, Val took 0.123s"
nlohmann::ordered_json train_report_json(const TrainReport& r);
nlohmann::ordered_json val_report_json(const ValReport& r);

// Appends records; opening for a resumed run first drops records after the resumed iteration.
class MetricsLog {
 public:
  MetricsLog(std::string path, int64_t resumed_iteration);
  void append(const nlohmann::ordered_json& record);

 private:
  std::string path_;
};

}  // namespace flotilla::train
