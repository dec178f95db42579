// mlx_lm.lora's configuration: the same keys and defaults, merged defaults < YAML (-c) < command
// line. Unknown keys are errors, so a typo never silently trains with a default.
#pragma once
#include <nlohmann/json.hpp>

#include <string>

#include "train/batching.h"
#include "lora/adapters.h"
#include "train/trainer.h"

namespace flotilla::train {

nlohmann::ordered_json default_train_config();

// Overlays `overlay` on `config` (nested objects merged key by key); unknown keys name `source`.
void merge_train_config(nlohmann::ordered_json& config, const nlohmann::ordered_json& overlay, const std::string& source);

struct FineTuneConfig {
  std::string model, data;
  bool train = false, test = false, resume = false;
  std::string resume_adapter_file;
  int64_t test_batches = 500;
  std::string dtype, device = "cpu";  // dtype empty: the model's torch_dtype
  bool grad_checkpoint = false;
  double collective_timeout = 0;  // seconds a rank waits for the others in a collective
  lora::LoraConfig lora;
  TrainingArgs args;
  BatchOptions batches;
};

// Checks types and ranges of a merged configuration and turns it into typed settings.
FineTuneConfig parse_train_config(const nlohmann::ordered_json& config);

}  // namespace flotilla::train
