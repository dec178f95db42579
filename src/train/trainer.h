// The training loop: data-parallel over a Group, token-weighted loss, reports, evaluation,
// checkpoints every save_every steps and exact resume. Flag names follow mlx_lm.lora.
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "flotilla/fine_tune.h"
#include "train/batching.h"
#include "distributed/group.h"
#include "io/tensor_io.h"
#include "model/llama.h"
#include "train/gradient_reducer.h"
#include "train/optimizer.h"
#include "train/schedule.h"

namespace flotilla::train {

struct TrainingArgs {
  int64_t iters = 1000;
  int64_t val_batches = 25;  // -1: the whole validation set
  int64_t steps_per_report = 10;
  int64_t steps_per_eval = 200;
  int64_t save_every = 100;
  // Iterations (one batch each) per optimizer update, as in mlx-lm: the update uses the mean of their
  // gradients, and a last incomplete group is never applied.
  int64_t grad_accumulation_steps = 1;
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

// The public callbacks, and a hook on the summed gradients for C++ code that links libtorch.
struct TrainingCallbacks : FineTuneCallbacks {
  // Called on every rank at each update's iteration, after gradients are summed over ranks and before
  // the update; may edit them.
  std::function<void(int64_t iteration, io::NamedTensors& gradients)> on_after_backward;
};

// Token-weighted mean loss over the first `batches` global batches (all if < 0), summed over ranks.
double evaluate_loss(model::LlamaModel model, const BatchIterator& data, int64_t batches, distributed::Group& group);

class Trainer {
 public:
  Trainer(model::LlamaModel model, TrainingArgs args, distributed::Group& group, TrainingCallbacks callbacks = {});

  // Restores the state written by an earlier run's checkpoint in adapter_path (--resume).
  void resume(BatchIterator& train_data);
  void train(BatchIterator& train_data, const BatchIterator* valid_data);
  int64_t iteration() const { return iteration_; }

 private:
  struct Run;   // what one train() call keeps between steps: output, metrics, the report window
  struct Step;  // one iteration's batch and token counts
  // The steps of one iteration, in the order train() calls them.
  void validate(int64_t it, const BatchIterator& valid_data, Run& run);
  Step next_batch(int64_t it, BatchIterator& train_data);
  void forward_backward(int64_t it, Step& step, Run& run);
  bool update(int64_t it, Run& run);
  void report(int64_t it, BatchIterator& train_data, Run& run);
  bool completes_update(int64_t it) const { return it % args_.grad_accumulation_steps == 0; }
  // Moves the gradients of a group in progress to rank 0 (summed), so a checkpoint holds all of them.
  void gather_partial_gradients();
  void save_checkpoint(const BatchIterator& train_data);
  void rebalance(BatchIterator& train_data, const std::vector<double>& rank_tokens_per_sec,
                 const std::function<void(const std::string&)>& say);
  model::LlamaModel model_;
  TrainingArgs args_;
  distributed::Group& group_;
  TrainingCallbacks callbacks_;
  io::NamedTensors params_;
  std::unique_ptr<GradientReducer> reducer_;  // only with more than one rank
  Optimizer optimizer_;
  LearningRateSchedule schedule_;
  int64_t iteration_ = 0;
  int64_t trained_tokens_ = 0;
};

}  // namespace flotilla::train
