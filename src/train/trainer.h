// The training loop: data-parallel over a Group, token-weighted loss, reports, evaluation,
// checkpoints every save_every steps and exact resume. Flag names follow mlx_lm.lora.
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "train/batching.h"
#include "distributed/group.h"
#include "io/tensor_io.h"
#include "model/llama.h"
#include "train/gradient_reducer.h"
#include "train/optimizer.h"
#include "train/schedule.h"

namespace flotilla {

struct TrainingArgs {
  int64_t iters = 1000;
  int64_t val_batches = 25;  // -1: the whole validation set
  int64_t steps_per_report = 10;
  int64_t steps_per_eval = 200;
  int64_t save_every = 100;
  int64_t grad_accumulation_steps = 1;  // batches per optimizer update
  double learning_rate = 1e-5;
  std::optional<ScheduleConfig> lr_schedule;
  OptimizerConfig optimizer;
  uint64_t seed = 0;
  std::string adapter_path = "adapters";
  bool skip_nonfinite = false;  // skip a step with NaN/inf loss or gradients instead of stopping
  ReducerOptions reducer;       // how gradients travel between ranks
  // Re-split each global batch between ranks in proportion to their measured throughput, at every report.
  bool balance_ranks = false;
  bool quiet = false;
};

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

struct TrainingCallbacks {
  // Called on every rank after gradients are summed over ranks, before the update; may edit them.
  std::function<void(int64_t iteration, NamedTensors& gradients)> on_after_backward;
  std::function<void(const TrainReport&)> on_train_loss_report;  // rank 0 only
  std::function<void(const ValReport&)> on_val_loss_report;      // rank 0 only
  // Rank 0, once the final adapters and metrics.jsonl are written (the CLI draws its loss plot here).
  std::function<void(const std::string& adapter_path)> on_train_end;
};

// Token-weighted mean loss over the first `batches` global batches (all if < 0), summed over ranks.
double evaluate_loss(LlamaModel model, const BatchIterator& data, int64_t batches, Group& group);

class Trainer {
 public:
  Trainer(LlamaModel model, TrainingArgs args, Group& group, TrainingCallbacks callbacks = {});

  // Restores the state written by an earlier run's checkpoint in adapter_path (--resume).
  void resume(BatchIterator& train_data);
  void train(BatchIterator& train_data, const BatchIterator* valid_data);
  int64_t iteration() const { return iteration_; }

 private:
  void save_checkpoint(const BatchIterator& train_data);
  void rebalance(BatchIterator& train_data, const std::vector<double>& rank_tokens_per_sec,
                 const std::function<void(const std::string&)>& say);
  LlamaModel model_;
  TrainingArgs args_;
  Group& group_;
  TrainingCallbacks callbacks_;
  NamedTensors params_;
  std::unique_ptr<GradientReducer> reducer_;  // only with more than one rank
  Optimizer optimizer_;
  LearningRateSchedule schedule_;
  int64_t iteration_ = 0;
  int64_t trained_tokens_ = 0;
};

}  // namespace flotilla
