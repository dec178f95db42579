// The whole `flotilla train` job, callable from C++: load the model, attach adapters, tokenize the
// data, train (on this rank's shard), test, and write mlx-lm's files into adapter_path.
#pragma once
#include <nlohmann/json.hpp>

#include "distributed/group.h"
#include "train/train_config.h"
#include "train/trainer.h"

namespace flotilla::train {

// `config` is the merged configuration, written as adapter_config.json.
FineTuneOutcome fine_tune(const nlohmann::ordered_json& config, distributed::Group& group, TrainingCallbacks callbacks = {});

// "Trainable parameters: 0.047% (3.408M/7248.024M)"; quantized weights count at their logical size.
std::string describe_trainable_parameters(model::LlamaModel model);

}  // namespace flotilla::train
