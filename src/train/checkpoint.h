// Everything a resumed run needs, in one atomically written file: trainable tensors, optimizer
// moments and step count, the iteration, tokens so far, the data position and, between two updates,
// the accumulated gradients. RNG needs no state:
// dropout is reseeded from (seed, iteration) every step.
#pragma once
#include <string>

#include "train/batching.h"
#include "io/tensor_io.h"
#include "model/config.h"

namespace flotilla::train {

struct TrainingState {
  int64_t iteration = 0;
  int64_t trained_tokens = 0;
  BatchPosition position;
  io::NamedTensors parameters;
  io::NamedTensors optimizer;
  std::string model;  // model::model_fingerprint of the model being trained
  // Saved between two updates: the gradients accumulated so far (summed over ranks), and N.
  io::NamedTensors gradients;
  int64_t grad_accumulation_steps = 1;
};

// The format is tagged and versioned; loading refuses other files and other versions, saying so.
void save_training_state(const std::string& path, const TrainingState& state);
TrainingState load_training_state(const std::string& path);

}  // namespace flotilla::train
