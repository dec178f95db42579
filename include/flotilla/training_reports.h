// What training reports as it goes: mlx-lm's train and validation lines, as values.
#pragma once
#include <cstdint>
#include <vector>

namespace flotilla {

struct TrainReport {
  int64_t iteration = 0;
  double train_loss = 0, learning_rate = 0, iterations_per_sec = 0, tokens_per_sec = 0, peak_memory_gb = 0;
  int64_t trained_tokens = 0;
  // Each rank's own tokens/sec in forward and backward (waiting for others excluded): shows which
  // machine holds the group back and guides --rank-batch-sizes.
  std::vector<double> rank_tokens_per_sec;
  // Each rank's mean seconds per step: forward and backward; in the gradient reducer and the
  // token-count sum (sending, and waiting for slower ranks); the optimizer update.
  std::vector<double> rank_compute_seconds, rank_communication_seconds, rank_update_seconds;
};

struct ValReport {
  int64_t iteration = 0;
  double val_loss = 0, seconds = 0;
};

}  // namespace flotilla
