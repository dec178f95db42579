// The training loop, top to bottom: one batch per iteration, token-weighted loss, gradients summed over
// ranks, an optimizer update every grad_accumulation_steps iterations, reports, evaluation, checkpoints.
#include "train/trainer.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>
#include <iostream>

#include "core/error.h"
#include "tensor/finite.h"
#include "core/memory.h"
#include "core/progress.h"
#include "core/timer.h"
#include "lora/adapters.h"
#include "lora/adapter_folder.h"
#include "train/checkpoint.h"
#include "train/loss.h"
#include "train/metrics.h"

using namespace flotilla::lora;
using namespace flotilla::tensor;
using namespace flotilla::distributed;
using namespace flotilla::io;
using namespace flotilla::model;
using namespace flotilla::data;

namespace flotilla::train {

namespace {

namespace fs = std::filesystem;

double sum_over_ranks(Group& group, double value) {
  auto t = at::full({1}, value, at::kDouble);
  group.all_sum(t);
  return t.item<double>();
}

// One report window's sums: the group's (loss over the iterations of finite updates, tokens), then
// this rank's own tokens and seconds in each part of an iteration.
struct WindowTotals {
  double loss = 0, evaluation_seconds = 0;
  int64_t steps = 0, finite_steps = 0, global_tokens = 0;
  double local_tokens = 0, compute = 0, communication = 0, update = 0;
};

// Row r of the result: rank r's tokens/sec in compute, then its compute, communication and update
// seconds per step. Every rank calls this (a sum over ranks).
at::Tensor per_rank_times(Group& group, const WindowTotals& w) {
  auto table = at::zeros({group.size(), 4}, at::kDouble);
  const double steps = std::max<int64_t>(1, w.steps);
  auto row = table[group.rank()];
  row[0] = w.local_tokens / std::max(1e-9, w.compute);
  row[1] = w.compute / steps;
  row[2] = w.communication / steps;
  row[3] = w.update / steps;
  group.all_sum(table);
  return table;
}

std::vector<double> column(const at::Tensor& table, int64_t c) {
  auto values = table.select(1, c).contiguous();
  return {values.data_ptr<double>(), values.data_ptr<double>() + values.numel()};
}

// at::isfinite().all() per tensor allocated masks: 22 ms a step for 42 MB of gradients, against
// 8 ms for the whole Adam update; all_finite reads them in place.
bool gradients_finite(const NamedTensors& params) {
  return std::all_of(params.begin(), params.end(), [](const std::pair<std::string, at::Tensor>& item) {
    return !item.second.grad().defined() || all_finite(item.second.grad());
  });
}

// Checked before anything is built on them (the gradient reducer sizes its buckets from them).
NamedTensors trainable_or_fail(const LlamaModel& model) {
  auto params = trainable_tensors(model);
  if (params.empty()) fail("train", "the model has no trainable parameters; attach LoRA adapters or use full fine-tuning");
  return params;
}

}  // namespace

Trainer::Trainer(LlamaModel model, TrainingArgs args, Group& group, TrainingCallbacks callbacks)
    : model_(model),
      args_(std::move(args)),
      group_(group),
      callbacks_(std::move(callbacks)),
      params_(trainable_or_fail(model)),
      reducer_(group.size() > 1 ? std::make_unique<GradientReducer>(group, params_, args_.reducer) : nullptr),
      optimizer_(args_.optimizer, params_),
      schedule_(args_.learning_rate, args_.lr_schedule) {
  if (args_.grad_accumulation_steps < 1) fail("train", "grad_accumulation_steps must be >= 1");
  for (auto& [name, p] : params_) p.mutable_grad() = at::Tensor();  // gradients accumulate from here
  // Every rank starts from rank 0's values, whatever its own initialisation drew.
  if (group_.size() == 1) return;
  at::NoGradGuard no_grad;
  for (auto& [name, p] : params_) {
    auto copy = p.detach().contiguous();
    group_.broadcast(copy, /*root=*/0);
    p.copy_(copy);
  }
}

void Trainer::resume(BatchIterator& train_data) {
  const auto path = AdapterFolder(args_.adapter_path).training_state();
  if (!fs::exists(path)) fail("train", "--resume: no training state at '{}'; was a checkpoint saved?", path);
  auto state = load_training_state(path);
  if (state.model != model_fingerprint(model_->config()))
    fail("train", "--resume: '{}' was saved while training another model (its config.json differs from '{}')", path,
         args_.adapter_path);
  at::NoGradGuard no_grad;
  std::map<std::string, at::Tensor> saved(state.parameters.begin(), state.parameters.end());
  for (auto& [name, p] : params_) {
    auto it = saved.find(name);
    if (it == saved.end() || it->second.sizes() != p.sizes())
      fail("train", "'{}' does not match this model's trainable tensor '{}'", path, name);
    p.copy_(it->second);
  }
  optimizer_.load_state(state.optimizer);
  if (!state.gradients.empty() && state.grad_accumulation_steps != args_.grad_accumulation_steps)
    fail("train", "--resume: '{}' was saved in the middle of a group of {} accumulated iterations; resume with "
         "--grad-accumulation-steps {} (got {})", path, state.grad_accumulation_steps, state.grad_accumulation_steps,
         args_.grad_accumulation_steps);
  // Rank 0 alone holds the group's gradients so far: the update sums them over ranks.
  std::map<std::string, at::Tensor> partial(state.gradients.begin(), state.gradients.end());
  for (auto& [name, p] : params_) {
    auto it = partial.find(name);
    if (group_.rank() == 0 && it != partial.end()) p.mutable_grad() = it->second.to(p.scalar_type());
  }
  train_data.seek(state.position);
  iteration_ = state.iteration;
  trained_tokens_ = state.trained_tokens;
}

double evaluate_loss(LlamaModel model, const BatchIterator& data, int64_t batches, Group& group) {
  at::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  const int64_t count = batches < 0 ? data.batches_per_epoch() : std::min(batches, data.batches_per_epoch());
  auto totals = at::zeros({2}, at::kDouble);  // loss sum, token count
  for (int64_t i = 0; i < count; ++i) {
    auto b = data.batch_at(i);
    auto l = masked_cross_entropy(model->forward(b.inputs), b.targets, b.mask);
    totals[0] += l.sum.item<double>();
    totals[1] += l.tokens.item<double>();
  }
  model->train(was_training);
  group.all_sum(totals);
  return totals[0].item<double>() / std::max(1.0, totals[1].item<double>());
}

// The order matters: --resume reads only the training state, so it goes last. A write that fails
// part-way (full disk) leaves the previous state, and resuming redoes the iterations since it.
void Trainer::save_checkpoint(const BatchIterator& train_data) {
  if (group_.rank() != 0) return;
  const AdapterFolder folder(args_.adapter_path);
  save_adapter_weights(model_, folder.checkpoint(iteration_));
  save_adapter_weights(model_, folder.weights());
  NamedTensors gradients;
  if (!completes_update(iteration_))
    for (auto& [name, p] : params_)
      if (p.grad().defined()) gradients.emplace_back(name, p.grad());
  save_training_state(folder.training_state(),
                      {iteration_, trained_tokens_, train_data.position(), params_, optimizer_.state(),
                       model_fingerprint(model_->config()), gradients, args_.grad_accumulation_steps});
}

void Trainer::gather_partial_gradients() {
  if (group_.size() == 1 || completes_update(iteration_)) return;
  at::NoGradGuard no_grad;
  for (auto& [name, p] : params_) {
    auto g = p.grad().defined() ? p.grad().contiguous() : at::zeros_like(p);
    group_.all_sum(g);
    p.mutable_grad() = group_.rank() == 0 ? g : at::Tensor();
  }
}

// Every rank computes the same split from the same summed throughputs, so no extra message is needed.
void Trainer::rebalance(BatchIterator& train_data, const std::vector<double>& rank_tokens_per_sec,
                        const std::function<void(const std::string&)>& say) {
  auto sizes = balanced_rank_batch_sizes(train_data.batch_size(), rank_tokens_per_sec);
  if (sizes == train_data.rank_batch_sizes()) return;
  say(fmt::format("Rank batch sizes now {} (measured tokens/sec {:.0f})", fmt::join(sizes, ","),
                  fmt::join(rank_tokens_per_sec, ", ")));
  train_data.set_rank_batch_sizes(std::move(sizes));
}

struct Trainer::Run {
  bool lead = false;
  bool quiet = false;
  Progress* bar = nullptr;
  std::optional<MetricsLog> metrics;
  Timer report_timer;
  WindowTotals window;
  // This rank's share of the mean losses of the iterations not yet summed over ranks.
  double unsummed_loss = 0;
  int64_t unsummed_iterations = 0;
  // Adds the summed losses of those iterations to the report window.
  void count_losses(double summed_loss, bool finite) {
    window.loss += finite ? summed_loss : 0;
    window.finite_steps += finite ? unsummed_iterations : 0;
    unsummed_loss = 0;
    unsummed_iterations = 0;
  }
  void say(const std::string& line) const {
    if (!lead || quiet) return;
    if (bar) bar->clear();
    std::cout << line << std::endl;
  }
};

struct Trainer::Step {
  Batch batch;
  double local_tokens = 0, global_tokens = 0;
};

// The training loop as an outline: validate when due, a batch, forward and backward (on an update's
// iteration the all-reduce runs inside backward), the update when due, then report and checkpoint.
void Trainer::train(BatchIterator& train_data, const BatchIterator* valid_data) {
  Run run;
  run.lead = group_.rank() == 0;
  run.quiet = args_.quiet;
  if (run.lead) {
    fs::create_directories(args_.adapter_path);
    run.metrics.emplace(AdapterFolder(args_.adapter_path).metrics(), iteration_);
  }
  if (reducer_)
    run.say(fmt::format("Gradient all-reduce: {} bucket(s), {} bytes of {} per step, {}", reducer_->buckets(),
                        reducer_->wire_bytes(), at::toString(reducer_->wire_dtype()),
                        args_.reducer.overlap ? "overlapped with backward" : "after backward"));
  run.say(fmt::format("Starting training..., iters: {}", args_.iters));
  if (args_.iters % args_.grad_accumulation_steps != 0 && run.lead)
    std::cerr << fmt::format("Warning: --iters {} is not a multiple of --grad-accumulation-steps {}; the last {} "
                             "iteration(s) will not reach an update.\n", args_.iters, args_.grad_accumulation_steps,
                             args_.iters % args_.grad_accumulation_steps);
  model_->train();
  // A bar on a terminal; off one, the Iter lines are the progress.
  Progress progress("training", args_.iters - iteration_, stderr, !run.lead || args_.quiet, /*plain_lines=*/false);
  run.bar = &progress;
  run.report_timer.restart();

  for (int64_t it = iteration_ + 1; it <= args_.iters; ++it) {
    if (valid_data && args_.val_batches != 0 && (it == 1 || it % args_.steps_per_eval == 0 || it == args_.iters))
      validate(it, *valid_data, run);
    Step step = next_batch(it, train_data);
    forward_backward(it, step, run);
    if (completes_update(it)) update(it, run);
    iteration_ = it;
    progress.advance();
    ++run.window.steps;
    trained_tokens_ += static_cast<int64_t>(step.global_tokens);
    run.window.global_tokens += static_cast<int64_t>(step.global_tokens);
    if (it % args_.steps_per_report == 0 || it == args_.iters) report(it, train_data, run);
    if (it % args_.save_every == 0 || it == args_.iters) {
      gather_partial_gradients();
      save_checkpoint(train_data);
      if (it % args_.save_every == 0)
        run.say(fmt::format("Iter {}: Saved adapter weights to {}.", it, AdapterFolder(args_.adapter_path).checkpoint(it)));
    }
  }
}

void Trainer::validate(int64_t it, const BatchIterator& valid_data, Run& run) {
  Timer val_timer;
  ValReport val{it, evaluate_loss(model_, valid_data, args_.val_batches, group_), 0};
  val.seconds = val_timer.seconds();
  run.say(format_val_report(val));
  if (run.metrics) run.metrics->append(val_report_json(val));
  if (run.lead && callbacks_.on_val_report) callbacks_.on_val_report(val);
  run.window.evaluation_seconds += val_timer.seconds();  // kept out of the training throughput
}

// This rank's batch of iteration `it`, with dropout reseeded from (seed, iteration) so a resumed run
// draws exactly the same masks.
Trainer::Step Trainer::next_batch(int64_t it, BatchIterator& train_data) {
  at::manual_seed(args_.seed * 1000003 + it);
  Step step{train_data.next()};
  step.local_tokens = step.batch.mask.sum().item<double>();
  return step;
}

// Adds d(sum of this iteration's token losses)/d(params) / (its tokens over all ranks) / N to .grad,
// so an update applies the mean over its N iterations as mlx-lm does. On an update's iteration the
// reducer's hooks sum the group's gradients over ranks inside backward.
void Trainer::forward_backward(int64_t it, Step& step, Run& run) {
  Timer count_timer;
  step.global_tokens = std::max(1.0, sum_over_ranks(group_, step.local_tokens));
  run.window.communication += count_timer.seconds();
  Timer compute_timer;
  const Batch& b = step.batch;
  auto l = masked_cross_entropy(model_->forward(b.inputs), b.targets, b.mask);
  run.unsummed_loss += l.sum.item<double>() / step.global_tokens;
  ++run.unsummed_iterations;
  if (reducer_ && completes_update(it)) reducer_->arm(run.unsummed_loss);
  (l.sum / (step.global_tokens * static_cast<double>(args_.grad_accumulation_steps))).backward();
  // The reducer's hooks ran inside backward: their time is communication, not compute.
  const double in_hooks = reducer_ ? reducer_->take_seconds() : 0;
  run.window.compute += compute_timer.seconds() - in_hooks;
  run.window.local_tokens += step.local_tokens;
  run.window.communication += in_hooks;
}

// Finishes the sum over ranks, then the caller's callback, the finiteness check and the optimizer
// step; false when skipped. A skipped update leaves the parameters and all optimizer state, step count
// included, as they were; the iteration, the data and the learning-rate schedule move on.
bool Trainer::update(int64_t it, Run& run) {
  const double loss = reducer_ ? reducer_->finish() : run.unsummed_loss;
  run.window.communication += reducer_ ? reducer_->take_seconds() : 0;
  if (callbacks_.on_after_backward) {
    NamedTensors grads;
    for (auto& [name, p] : params_) grads.emplace_back(name, p.mutable_grad());
    callbacks_.on_after_backward(it, grads);
  }
  Timer update_timer;
  const bool finite = std::isfinite(loss) && gradients_finite(params_);
  if (!finite) {
    if (!args_.skip_nonfinite)
      fail("train", "iteration {}: the loss or the gradients are NaN or infinite (loss {}); stopping before the "
           "update, so saved adapters stay finite. Lower --learning-rate, or pass --skip-nonfinite", it, loss);
    run.say(fmt::format("Iter {}: skipped, non-finite loss or gradients", it));
  } else {
    optimizer_.step(schedule_.at(it / args_.grad_accumulation_steps - 1));
  }
  for (auto& [name, p] : params_) p.mutable_grad() = at::Tensor();
  run.count_losses(loss, finite);
  run.window.update += update_timer.seconds();
  return finite;
}

void Trainer::report(int64_t it, BatchIterator& train_data, Run& run) {
  if (run.unsummed_iterations > 0) {  // iterations of an update still to come
    const double loss = sum_over_ranks(group_, run.unsummed_loss);
    run.count_losses(loss, std::isfinite(loss));
  }
  auto& window = run.window;
  const double seconds = std::max(1e-9, run.report_timer.seconds() - window.evaluation_seconds);
  TrainReport r;
  r.iteration = it;
  r.train_loss = window.loss / std::max<int64_t>(1, window.finite_steps);
  // As MLX's optimizer.learning_rate: the rate of the last update (before any, the first one's).
  r.learning_rate = schedule_.at(std::max<int64_t>(0, it / args_.grad_accumulation_steps - 1));
  r.iterations_per_sec = window.steps / seconds;
  r.tokens_per_sec = window.global_tokens / seconds;
  r.trained_tokens = trained_tokens_;
  r.peak_memory_gb = peak_memory_gb();
  const auto times = per_rank_times(group_, window);
  r.rank_tokens_per_sec = column(times, 0);
  r.rank_compute_seconds = column(times, 1);
  r.rank_communication_seconds = column(times, 2);
  r.rank_update_seconds = column(times, 3);
  run.say(format_train_report(r));
  if (args_.balance_ranks && group_.size() > 1)
    rebalance(train_data, r.rank_tokens_per_sec, [&run](const std::string& line) { run.say(line); });
  if (run.metrics) run.metrics->append(train_report_json(r));
  if (run.lead && callbacks_.on_train_report) callbacks_.on_train_report(r);
  window = {};
  run.report_timer.restart();
}

}  // namespace flotilla::train
