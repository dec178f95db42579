// Everything a resumed run needs, in one atomically written file: trainable tensors, optimizer
// moments, the iteration, tokens so far and the data position. RNG needs no state: dropout is
// reseeded from (seed, iteration) every step.
#pragma once
#include <string>

#include "train/batching.h"
#include "io/tensor_io.h"

namespace flotilla {

struct TrainingState {
  int64_t iteration = 0;
  int64_t trained_tokens = 0;
  BatchPosition position;
  NamedTensors parameters;
  NamedTensors optimizer;
};

void save_training_state(const std::string& path, const TrainingState& state);
TrainingState load_training_state(const std::string& path);

// mlx-lm's checkpoint file name: "0000100_adapters.safetensors".
std::string checkpoint_file_name(int64_t iteration);

}  // namespace flotilla
