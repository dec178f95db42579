// Gradient accumulation as mlx-lm defines it: one batch per iteration, and every N iterations one
// update that applies the mean of their gradients (each the gradient of its batch's mean token loss);
// checked against autograd and SGD written out here in float64, resumed mid-group too.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/error.h"
#include "lora/adapter_folder.h"
#include "train/checkpoint.h"
#include "train/loss.h"
#include "trainer_setup.h"

using namespace flotilla::lora;
using namespace flotilla::model;
using namespace flotilla::train;
using namespace flotilla::distributed;
using namespace flotilla::io;

namespace flotilla {
namespace {

constexpr int64_t kAccumulation = 3, kIterations = 8;  // updates at 3 and 6; 7 and 8 never applied
constexpr double kRate = 0.05;                         // halved at each update (exponential_decay 0.5)

test::Setup float64_setup(const std::string& adapter_path) {
  model::LoadOptions options;
  options.dtype = at::kDouble;
  test::Setup s{load_model((test::stories_dir() / "hf").string(), options), {}};
  LoraConfig lora;
  lora.num_layers = -1;
  lora.spec.rank = 4;
  apply_fine_tuning(s.loaded.model, lora, /*seed=*/0);
  s.args.iters = kIterations;
  s.args.grad_accumulation_steps = kAccumulation;
  s.args.learning_rate = kRate;
  s.args.lr_schedule = ScheduleConfig{"exponential_decay", {kRate, 0.5}};
  s.args.optimizer.name = "sgd";
  s.args.steps_per_report = 1;
  s.args.save_every = 2;
  s.args.adapter_path = adapter_path;
  s.args.quiet = true;
  return s;
}

// The same run written out: per batch the loss at the current parameters, per group of N one SGD step.
struct Reference {
  NamedTensors parameters;
  std::vector<double> losses;  // per iteration
};

Reference reference_run() {
  auto s = float64_setup(test::scratch_dir("reference").string());
  auto params = trainable_tensors(s.loaded.model);
  auto data = test::iterator(64, 1);
  Reference out;
  for (int64_t it = 1; it <= kIterations; ++it) {
    auto batch = data.next();
    auto l = masked_cross_entropy(s.loaded.model->forward(batch.inputs), batch.targets, batch.mask);
    auto mean = l.sum / l.tokens.to(at::kDouble);
    out.losses.push_back(mean.item<double>());
    mean.backward();
    if (it % kAccumulation != 0) continue;
    const double rate = kRate * std::pow(0.5, it / kAccumulation - 1);
    at::NoGradGuard no_grad;
    for (auto& [name, p] : params) {
      p.sub_(p.grad() / static_cast<double>(kAccumulation) * rate);
      p.mutable_grad() = at::Tensor();
    }
  }
  out.parameters = params;
  return out;
}

TEST(GradientAccumulation, EveryNthIterationAppliesTheMeanOfItsGroupsGradients) {
  const auto expected = reference_run();
  auto s = float64_setup(test::scratch_dir("accumulated").string());
  std::vector<TrainReport> reports;
  TrainingCallbacks callbacks;
  callbacks.on_train_report = [&](const TrainReport& r) { reports.push_back(r); };
  std::vector<int64_t> update_iterations;
  callbacks.on_after_backward = [&](int64_t it, NamedTensors&) { update_iterations.push_back(it); };
  auto group = make_single_process_group();
  auto data = test::iterator(64, 1);
  Trainer(s.loaded.model, s.args, *group, callbacks).train(data, nullptr);

  EXPECT_EQ(update_iterations, (std::vector<int64_t>{3, 6}));
  const double worst = test::max_difference(trainable_tensors(s.loaded.model), expected.parameters);
  // Roundoff only (the trainer scales the loss by 1/N, the reference the gradient): measured 6.4e-13.
  // Dividing by N + 1 instead moves the parameters by 3.5.
  std::cout << "[accumulation] max |parameter - reference| = " << worst << " (tolerance 1e-10)\n";
  EXPECT_LE(worst, 1e-10);
  ASSERT_EQ(reports.size(), static_cast<size_t>(kIterations));
  int64_t previous_tokens = 0;
  for (int64_t i = 0; i < kIterations; ++i) {
    const auto& r = reports[i];
    EXPECT_EQ(r.iteration, i + 1);
    EXPECT_NEAR(r.train_loss, expected.losses[i], 1e-12) << "iteration " << i + 1;
    // MLX's optimizer.learning_rate: the last update's rate, the first one's before any update.
    const int64_t updates = (i + 1) / kAccumulation;
    EXPECT_DOUBLE_EQ(r.learning_rate, kRate * std::pow(0.5, std::max<int64_t>(0, updates - 1))) << i + 1;
    EXPECT_GT(r.trained_tokens, previous_tokens);  // one batch's tokens per iteration
    EXPECT_LT(r.trained_tokens - previous_tokens, 4 * 30);
    previous_tokens = r.trained_tokens;
  }
}

// A run that dies at the update of iteration 6 resumes from checkpoint 4, which lies inside the group
// 4..6: the state carries iteration 4's gradient, and the run ends exactly where a straight one ends.
TEST(GradientAccumulation, ResumeInTheMiddleOfAGroupIsExact) {
  auto straight = float64_setup(test::scratch_dir("straight").string());
  auto group = make_single_process_group();
  {
    auto data = test::iterator(64, 1);
    Trainer(straight.loaded.model, straight.args, *group).train(data, nullptr);
  }
  const auto dir = test::scratch_dir("crashed").string();
  auto crashed = float64_setup(dir);
  TrainingCallbacks crash;
  crash.on_after_backward = [](int64_t it, NamedTensors&) {
    if (it == 6) throw std::runtime_error("simulated crash");
  };
  {
    auto data = test::iterator(64, 1);
    EXPECT_THROW(Trainer(crashed.loaded.model, crashed.args, *group, crash).train(data, nullptr), std::runtime_error);
  }
  const auto state = load_training_state(AdapterFolder(dir).training_state());
  EXPECT_EQ(state.iteration, 4);
  EXPECT_EQ(state.grad_accumulation_steps, kAccumulation);
  EXPECT_EQ(state.gradients.size(), trainable_tensors(crashed.loaded.model).size());

  auto resumed = float64_setup(dir);
  auto data = test::iterator(64, 1);
  Trainer trainer(resumed.loaded.model, resumed.args, *group);
  trainer.resume(data);
  EXPECT_EQ(trainer.iteration(), 4);
  trainer.train(data, nullptr);
  const double worst =
      test::max_difference(trainable_tensors(straight.loaded.model), trainable_tensors(resumed.loaded.model));
  std::cout << "[accumulation resume] max |adapter difference| = " << worst << "\n";
  EXPECT_EQ(worst, 0.0);

  // The saved group belongs to N = 3: another N would mix groups, so resume refuses it.
  save_training_state(AdapterFolder(dir).training_state(), state);
  auto other = float64_setup(dir);
  other.args.grad_accumulation_steps = 2;
  auto data2 = test::iterator(64, 1);
  try {
    Trainer(other.loaded.model, other.args, *group).resume(data2);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("resume with --grad-accumulation-steps 3 (got 2)"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace flotilla
