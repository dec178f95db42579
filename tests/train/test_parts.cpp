// Schedules, the optimizer, the finite check and batching, each against values worked out independently here.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/error.h"
#include "tensor/finite.h"
#include "train/batching.h"
#include "train/optimizer.h"
#include "train/schedule.h"

using namespace flotilla::tensor;
using namespace flotilla::train;
using namespace flotilla::io;
using namespace flotilla::data;

namespace flotilla {
namespace {

// mlx-lm's build_schedule: join_schedules([linear_schedule(1e-7, 1e-4, 10), cosine_decay(1e-4, 100)], [11]),
// so step 10 ends the warm-up and step 11 is the cosine's step 0.
TEST(Schedule, CosineWithWarmup) {
  LearningRateSchedule s(1e-5, ScheduleConfig{"cosine_decay", {1e-4, 100}, 10, 1e-7});
  EXPECT_DOUBLE_EQ(s.at(0), 1e-7);
  EXPECT_NEAR(s.at(5), 1e-7 + (1e-4 - 1e-7) * 0.5, 1e-15);
  EXPECT_NEAR(s.at(10), 1e-4, 1e-15);
  EXPECT_NEAR(s.at(11), 1e-4, 1e-15);
  EXPECT_NEAR(s.at(12), 1e-4 * 0.5 * (1 + std::cos(M_PI * 1 / 100)), 1e-15);
  EXPECT_NEAR(s.at(60), 1e-4 * 0.5 * (1 + std::cos(M_PI * 49 / 100)), 1e-15);
  EXPECT_NEAR(s.at(500), 0.0, 1e-15);
}

TEST(Schedule, LinearExponentialStepAndConstant) {
  EXPECT_NEAR(LearningRateSchedule(0, ScheduleConfig{"linear_schedule", {1.0, 0.0, 10}}).at(4), 0.6, 1e-12);
  EXPECT_NEAR(LearningRateSchedule(0, ScheduleConfig{"exponential_decay", {1.0, 0.5}}).at(3), 0.125, 1e-12);
  EXPECT_NEAR(LearningRateSchedule(0, ScheduleConfig{"step_decay", {1.0, 0.5, 4}}).at(9), 0.25, 1e-12);
  EXPECT_DOUBLE_EQ(LearningRateSchedule(2e-5, std::nullopt).at(77), 2e-5);
  EXPECT_THROW(LearningRateSchedule(0, ScheduleConfig{"cosine_decay", {1.0}}), Error);
  EXPECT_THROW(LearningRateSchedule(0, ScheduleConfig{"warp", {1.0}}), Error);
}

// MLX's Adam has no bias correction: after one step p -= lr * g(1-b1) / (sqrt(g²(1-b2)) + eps).
TEST(Optimizer, AdamAdamwSgdFirstSteps) {
  for (const std::string name : {"adam", "adamw", "sgd"}) {
    auto p = at::tensor(std::vector<double>{1.0, -2.0}).set_requires_grad(true);
    p.mutable_grad() = at::tensor(std::vector<double>{0.5, -1.0});
    OptimizerConfig config;
    config.name = name;
    config.weight_decay = name == "adamw" ? 0.01 : 0.0;
    Optimizer opt(config, {{"p", p}});
    opt.step(0.1);
    for (int i = 0; i < 2; ++i) {
      const double p0 = i == 0 ? 1.0 : -2.0, g = i == 0 ? 0.5 : -1.0;
      double expected = p0 - 0.1 * g;
      if (name != "sgd") {
        const double decayed = name == "adamw" ? p0 * (1 - 0.1 * 0.01) : p0;
        expected = decayed - 0.1 * (0.1 * g) / (std::sqrt(0.001 * g * g) + 1e-8);
      }
      EXPECT_NEAR(p[i].item<double>(), expected, 1e-12) << name << " element " << i;
    }
    auto state = opt.state();
    Optimizer restored(config, {{"p", p}});
    restored.load_state(state);
    for (size_t k = 0; k < state.size(); ++k) EXPECT_TRUE(at::equal(restored.state()[k].second, state[k].second));
  }
}

// MLX's optimizer arguments, three steps each against their formulas in float64 (mlx/optimizers):
// Adam's bias correction divides by 1 - b^t; SGD adds weight_decay·p to the gradient, keeps
// (1 - dampening) of it in the velocity and, with Nesterov, steps along g + momentum·v.
TEST(Optimizer, BiasCorrectionWeightDecayDampeningAndNesterov) {
  struct Case {
    OptimizerConfig config;
    const char* label;
  };
  std::vector<Case> cases(4);
  cases[0].config.name = "adam", cases[0].config.bias_correction = true, cases[0].label = "adam bias_correction";
  cases[1].config.name = "adamw", cases[1].config.bias_correction = true, cases[1].config.weight_decay = 0.1;
  cases[1].label = "adamw bias_correction";
  cases[2].config.name = "sgd", cases[2].config.momentum = 0.9, cases[2].config.dampening = 0.3;
  cases[2].config.weight_decay = 0.05, cases[2].label = "sgd momentum dampening weight_decay";
  cases[3].config.name = "sgd", cases[3].config.momentum = 0.8, cases[3].config.nesterov = true;
  cases[3].label = "sgd nesterov";
  for (const auto& [config, label] : cases) {
    auto p = at::tensor(std::vector<double>{1.0, -2.0, 0.5}).set_requires_grad(true);
    std::vector<double> w = {1.0, -2.0, 0.5}, m(3, 0.0), v(3, 0.0);
    Optimizer opt(config, {{"p", p}});
    for (int t = 1; t <= 3; ++t) {
      const std::vector<double> g = {0.5 * t, -1.0 / t, 0.25};
      p.mutable_grad() = at::tensor(g);
      const double lr = 0.1 / t;
      opt.step(lr);
      for (int i = 0; i < 3; ++i) {
        if (config.name == "sgd") {
          const double gi = g[i] + config.weight_decay * w[i];
          m[i] = config.momentum * m[i] + (config.dampening > 0 ? 1 - config.dampening : 1.0) * gi;
          w[i] -= lr * (config.nesterov ? gi + config.momentum * m[i] : m[i]);
        } else {
          if (config.name == "adamw") w[i] *= 1 - lr * config.weight_decay;
          m[i] = 0.9 * m[i] + 0.1 * g[i];
          v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
          w[i] -= lr / (1 - std::pow(0.9, t)) * m[i] / (std::sqrt(v[i]) / std::sqrt(1 - std::pow(0.999, t)) + 1e-8);
        }
        EXPECT_NEAR(p[i].item<double>(), w[i], 1e-12) << label << ", step " << t << ", element " << i;
      }
    }
  }
  OptimizerConfig bad;
  bad.name = "sgd", bad.nesterov = true;
  EXPECT_THROW(Optimizer(bad, {}), Error);
}

// float32 parameters take a fused one-pass kernel (parallel in chunks): three steps of Adam and
// AdamW against the same formula in float64, on more elements than one chunk holds.
TEST(Optimizer, FusedFloatStepsFollowTheFormula) {
  for (const std::string name : {"adam", "adamw"}) {
    at::manual_seed(3);
    auto p = at::randn({300001}).set_requires_grad(true);
    auto expected = p.detach().to(at::kDouble);
    auto m = at::zeros_like(expected), v = at::zeros_like(expected);
    OptimizerConfig config;
    config.name = name;
    config.weight_decay = name == "adamw" ? 0.01 : 0.0;
    Optimizer opt(config, {{"p", p}});
    for (int step = 0; step < 3; ++step) {
      const double lr = 1e-3 * (step + 1);
      auto g = at::randn({300001}) * (step == 1 ? 1e-3 : 1.0);
      p.mutable_grad() = g;
      opt.step(lr);
      const auto gd = g.to(at::kDouble);
      m = 0.9 * m + 0.1 * gd;
      v = 0.999 * v + 0.001 * gd * gd;
      expected = expected * (1 - lr * config.weight_decay) - lr * m / (v.sqrt() + 1e-8);
    }
    EXPECT_LT((p.detach().to(at::kDouble) - expected).abs().max().item<double>(), 2e-6) << name;
    EXPECT_LT((opt.state()[1].second.to(at::kDouble) - v).abs().max().item<double>(), 1e-6) << name;
  }
}

// The float32 path reads exponent bits: every NaN/infinity at the first, a middle and the last
// position is found; the largest finite, subnormal and -0 values are not flagged. Strided and
// float64 tensors take at::isfinite.
TEST(Finite, FindsEveryNonFiniteValueAnywhere) {
  using limits = std::numeric_limits<float>;
  auto base = at::randn({1001});
  base[3] = limits::max();
  base[4] = -limits::max();
  base[5] = limits::denorm_min();
  base[6] = -0.0f;
  EXPECT_TRUE(all_finite(base));
  for (float bad : {limits::quiet_NaN(), -limits::quiet_NaN(), limits::infinity(), -limits::infinity()}) {
    for (int64_t at : {int64_t{0}, int64_t{500}, int64_t{1000}}) {
      auto t = base.clone();
      t[at] = bad;
      EXPECT_FALSE(all_finite(t)) << bad << " at " << at;
      EXPECT_FALSE(all_finite(t.to(at::kDouble))) << bad << " at " << at;
      EXPECT_FALSE(all_finite(t.view({7, 143}).t())) << bad << " at " << at << ", strided";
    }
  }
}

TEST(Batching, PadsToMultipleOfEightAndMasksPrompt) {
  TokenizedExample a{{1, 2, 3, 4, 5}, 3}, b{{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 2};
  auto batch = collate({&a, &b}, 2048, /*mask_prompt=*/true);
  EXPECT_EQ(batch.inputs.sizes(), at::IntArrayRef({2, 15}));  // 10 tokens -> 16 wide, minus the shift
  EXPECT_EQ(batch.targets[1][0].item<int64_t>(), 2);
  // a: targets are tokens 2..5 at j=0..3; only tokens from index 3 on (j >= 2) are completion.
  EXPECT_EQ(batch.mask[0].sum().item<double>(), 2);
  EXPECT_EQ(batch.mask[0][2].item<double>(), 1);
  EXPECT_EQ(batch.mask[1].sum().item<double>(), 8);
  auto capped = collate({&b}, 6, false);
  EXPECT_EQ(capped.inputs.size(1), 5);
  EXPECT_EQ(capped.truncated, 1);
}

std::vector<TokenizedExample> numbered(int64_t n) {
  std::vector<TokenizedExample> out;
  for (int64_t i = 0; i < n; ++i) out.push_back({std::vector<int64_t>(2 + i % 7, 100 + i), 0});
  return out;
}

// Shards of ranks 0..W-1 (even or uneven sizes) put together are the single-process batch.
TEST(Batching, RankShardsPartitionTheGlobalBatch) {
  BatchOptions single;
  single.batch_size = 6;
  single.seed = 4;
  BatchIterator whole(numbered(40), single, 1);
  for (std::vector<int64_t> sizes : {std::vector<int64_t>{}, std::vector<int64_t>{5, 1}}) {
    std::vector<BatchIterator> ranks;
    for (int r = 0; r < 2; ++r) {
      auto o = single;
      o.rank = r;
      o.rank_batch_sizes = sizes;
      ranks.emplace_back(numbered(40), o, 2);
    }
    BatchIterator reference(numbered(40), single, 1);
    for (int step = 0; step < 15; ++step) {  // crosses two epochs of 6 batches
      auto full = reference.next();
      auto r0 = ranks[0].next(), r1 = ranks[1].next();
      auto first = full.targets.narrow(0, 0, r0.targets.size(0));
      auto rest = full.targets.narrow(0, r0.targets.size(0), r1.targets.size(0));
      EXPECT_TRUE(at::equal(first.narrow(1, 0, r0.targets.size(1)), r0.targets.narrow(1, 0, r0.targets.size(1))));
      EXPECT_TRUE(at::equal(rest.narrow(1, 0, std::min(rest.size(1), r1.targets.size(1))),
                            r1.targets.narrow(1, 0, std::min(rest.size(1), r1.targets.size(1)))));
    }
  }
  auto bad = single;
  bad.rank_batch_sizes = {4, 1};
  EXPECT_THROW(BatchIterator(numbered(40), bad, 2), Error);
}

TEST(Batching, BalancedSplitFollowsThroughput) {
  using Sizes = std::vector<int64_t>;
  EXPECT_EQ(balanced_rank_batch_sizes(8, {300, 100}), (Sizes{6, 2}));
  EXPECT_EQ(balanced_rank_batch_sizes(4, {300, 100}), (Sizes{3, 1}));
  EXPECT_EQ(balanced_rank_batch_sizes(2, {1000, 1}), (Sizes{1, 1}));  // every rank keeps one example
  EXPECT_EQ(balanced_rank_batch_sizes(5, {1, 1, 1}), (Sizes{2, 2, 1}));
  EXPECT_EQ(balanced_rank_batch_sizes(16, {1, 0}), (Sizes{15, 1}));
  EXPECT_EQ(balanced_rank_batch_sizes(4, {0, 0}), (Sizes{2, 2}));
  EXPECT_THROW(balanced_rank_batch_sizes(1, {1, 1}), Error);
}

TEST(Batching, NewRankSplitTakesEffectAtTheNextBatch) {
  BatchOptions o;
  o.batch_size = 6;
  o.rank = 1;
  BatchIterator rank1(numbered(40), o, 2);
  EXPECT_EQ(rank1.rank_batch_sizes(), (std::vector<int64_t>{3, 3}));
  EXPECT_EQ(rank1.next().inputs.size(0), 3);
  rank1.set_rank_batch_sizes({5, 1});
  EXPECT_EQ(rank1.next().inputs.size(0), 1);
  EXPECT_THROW(rank1.set_rank_batch_sizes({6, 0}), Error);
  EXPECT_THROW(rank1.set_rank_batch_sizes({3, 2}), Error);
}

TEST(Batching, SeekReplaysTheSameBatches) {
  BatchOptions o;
  o.batch_size = 4;
  o.seed = 9;
  BatchIterator a(numbered(30), o, 1), b(numbered(30), o, 1);
  for (int i = 0; i < 11; ++i) a.next();
  b.seek(a.position());
  for (int i = 0; i < 9; ++i) EXPECT_TRUE(at::equal(a.next().inputs, b.next().inputs));
  EXPECT_THROW(BatchIterator(numbered(3), o, 1), Error);
}

}  // namespace
}  // namespace flotilla
