// --skip-nonfinite skips for real: a poisoned iteration changes neither the parameters nor any
// optimizer state, and the rest of the run is the run that never had that iteration.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "lora/adapter_folder.h"
#include "train/checkpoint.h"
#include "train/optimizer.h"
#include "train/trainer_setup.h"

using namespace flotilla::io;
using namespace flotilla::lora;
using namespace flotilla::train;
using namespace flotilla::distributed;

namespace flotilla {
namespace {

int64_t optimizer_steps(const TrainingState& state) {
  for (const auto& [name, t] : state.optimizer)
    if (name == Optimizer::kStepName) return t.item<int64_t>();
  ADD_FAILURE() << "no '" << Optimizer::kStepName << "' in the optimizer state";
  return -1;
}

// Our extension: mlx-lm has no skipping (a NaN step reaches its adapters). A skipped iteration
// leaves the parameters, Adam's moments and its step count as they were; the iteration, the data
// position and the learning-rate schedule move on. So bias correction counts updates made (as
// MLX's optimizer state["step"] does), not iterations; bias correction is on here to make it matter.
TEST(Trainer, SkippedStepChangesNoStateAndTheRunContinuesWithoutIt) {
  constexpr int64_t kPoisoned = 7, kIters = 12;
  const auto dir = test::scratch_dir("poisoned");
  auto poisoned = test::lora_setup(dir.string());
  poisoned.args.iters = kIters;
  poisoned.args.save_every = 1;
  poisoned.args.skip_nonfinite = true;
  poisoned.args.optimizer.bias_correction = true;
  const AdapterFolder folder(dir.string());
  std::map<int64_t, TrainingState> after;  // the state after each iteration, from its checkpoint
  TrainingCallbacks poison;
  poison.on_after_backward = [&](int64_t it, NamedTensors& grads) {
    if (it > 1) after[it - 1] = load_training_state(folder.training_state());
    if (it == kPoisoned) grads[0].second.view({-1})[0] = NAN;
  };
  auto group = make_single_process_group();
  auto train = test::iterator(64, 1);
  Trainer(poisoned.loaded.model, poisoned.args, *group, poison).train(train, nullptr);
  after[kIters] = load_training_state(folder.training_state());

  const TrainingState &before = after[kPoisoned - 1], &skipped = after[kPoisoned], &next = after[kPoisoned + 1];
  EXPECT_EQ(skipped.iteration, kPoisoned);
  EXPECT_NE(skipped.position.batch, before.position.batch) << "the poisoned batch is consumed, not retried";
  EXPECT_EQ(test::max_difference(skipped.parameters, before.parameters), 0.0);
  EXPECT_EQ(test::max_difference(skipped.optimizer, before.optimizer), 0.0);  // moments and step count
  EXPECT_EQ(optimizer_steps(before), kPoisoned - 1);
  EXPECT_EQ(optimizer_steps(skipped), kPoisoned - 1);
  EXPECT_EQ(optimizer_steps(next), kPoisoned);
  EXPECT_GT(test::max_difference(next.parameters, skipped.parameters), 0.0) << "updates resume after the skip";
  EXPECT_EQ(optimizer_steps(after[kIters]), kIters - 1);

  // The reference never has iteration 7: a clean run to 6, whose state then claims iteration 7,
  // drops 7's batch unseen and trains to the end.
  auto reference = test::lora_setup(test::scratch_dir("reference").string());
  reference.args.iters = kPoisoned - 1;
  reference.args.optimizer.bias_correction = true;
  auto reference_data = test::iterator(64, 1);
  Trainer(reference.loaded.model, reference.args, *group).train(reference_data, nullptr);
  const AdapterFolder reference_folder(reference.args.adapter_path);
  auto state = load_training_state(reference_folder.training_state());
  EXPECT_EQ(test::max_difference(state.parameters, before.parameters), 0.0) << "the runs differ before the poison";
  state.iteration = kPoisoned;
  save_training_state(reference_folder.training_state(), state);
  reference.args.iters = kIters;
  Trainer resumed(reference.loaded.model, reference.args, *group);
  reference_data = test::iterator(64, 1);
  resumed.resume(reference_data);
  reference_data.next();
  resumed.train(reference_data, nullptr);
  const auto end = load_training_state(reference_folder.training_state());
  const double parameters = test::max_difference(end.parameters, after[kIters].parameters);
  const double optimizer = test::max_difference(end.optimizer, after[kIters].optimizer);
  std::cout << "[skip] NaN at iteration " << kPoisoned << " skipped vs a run without it, after " << kIters
            << ": max |parameter diff| = " << parameters << ", max |optimizer state diff| = " << optimizer
            << " (tolerance 0)\n";
  EXPECT_EQ(parameters, 0.0);
  EXPECT_EQ(optimizer, 0.0);
}

}  // namespace
}  // namespace flotilla
