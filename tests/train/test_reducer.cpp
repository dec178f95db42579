// GradientReducer in one process: gradients packed into buckets by the backward hooks come back
// unchanged (a sum over one rank), with accumulation over micro-batches, and the buckets start
// during backward (overlap) or after it.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "lora/adapters.h"
#include "model/loader.h"
#include "support/paths.h"
#include "train/gradient_reducer.h"
#include "train/loss.h"

using namespace flotilla::lora;
using namespace flotilla::model;
using namespace flotilla::train;
using namespace flotilla::distributed;
using namespace flotilla::io;

namespace flotilla {
namespace {

// One rank that records when each bucket's sum is started. The "sum" is the buffer as it was at
// the start, written back when asked for: a bucket started before it was full loses the rest.
class RecordingGroup : public Group {
 public:
  struct Snapshot : PendingSum {
    Snapshot(at::Tensor& live) : live(live), at_start(live.clone()) {}
    bool done() override { return wait(), true; }
    void wait() override { live.copy_(at_start); }
    at::Tensor live, at_start;
  };
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void all_sum(at::Tensor&) override {}
  std::unique_ptr<PendingSum> start_all_sum(at::Tensor& t) override {
    (in_backward ? started_during_backward : started_after) += t.numel() > 1;  // the loss is a scalar
    return std::make_unique<Snapshot>(t);
  }
  void broadcast(at::Tensor&, int) override {}
  void barrier() override {}
  void set_collective_timeout(double) override {}
  void abort(int) override {}
  std::string describe() const override { return "recording"; }
  bool in_backward = false;
  int started_during_backward = 0, started_after = 0;
};

LlamaModel adapted_stories() {
  auto m = load_model((test::stories_dir() / "hf").string()).model;
  LoraConfig config;
  config.num_layers = -1;
  apply_fine_tuning(m, config, 3);
  at::NoGradGuard guard;
  at::manual_seed(1);
  for (auto& [name, p] : trainable_tensors(m)) p.normal_(0, 0.05);  // gradients reach every factor
  return m;
}

LossSum micro_batch(LlamaModel& m, int64_t seed) {
  at::manual_seed(seed);
  auto tokens = at::randint(3, 500, {2, 17}, at::kLong);
  return masked_cross_entropy(m->forward(tokens.narrow(1, 0, 16)), tokens.narrow(1, 1, 16), at::ones({2, 16}));
}

// Two micro-batches' gradients: plain backward, or through a reducer armed before the second.
NamedTensors gradients(GradientReducer* reducer, RecordingGroup* group, LlamaModel& m, double* loss = nullptr,
                       double* local_loss = nullptr, int64_t seed = 5) {
  auto first = micro_batch(m, seed);
  first.sum.backward();
  auto second = micro_batch(m, seed + 1);
  const double local = first.sum.item<double>() + second.sum.item<double>();
  if (reducer) reducer->arm(local);
  if (group) group->in_backward = true;
  second.sum.backward();
  if (group) group->in_backward = false;
  const double summed = reducer ? reducer->finish() : local;
  if (loss) *loss = summed;
  if (local_loss) *local_loss = local;
  NamedTensors out;
  for (auto& [name, p] : trainable_tensors(m)) out.emplace_back(name, p.grad().clone());
  return out;
}

void reset_gradients(LlamaModel& m) {
  for (auto& [name, p] : trainable_tensors(m)) p.mutable_grad() = at::Tensor();
}

TEST(GradientReducer, BucketsReturnTheAccumulatedGradients) {
  auto m = adapted_stories();
  const auto reference = gradients(nullptr, nullptr, m);
  for (bool overlap : {true, false}) {
    reset_gradients(m);
    RecordingGroup group;
    ReducerOptions options;
    options.bucket_mb = 0.01;
    options.overlap = overlap;
    GradientReducer reducer(group, trainable_tensors(m), options);
    EXPECT_GT(reducer.buckets(), 5);
    double loss = 0, local = -1;
    const auto got = gradients(&reducer, &group, m, &loss, &local);
    EXPECT_EQ(group.started_during_backward, overlap ? reducer.buckets() : 0);
    EXPECT_EQ(group.started_after, overlap ? 0 : reducer.buckets());
    EXPECT_EQ(loss, local);  // the sum over one rank
    ASSERT_EQ(got.size(), reference.size());
    for (size_t i = 0; i < got.size(); ++i)
      EXPECT_TRUE(at::equal(got[i].second, reference[i].second)) << got[i].first << " overlap " << overlap;
  }
}

// The summed gradients live in the buckets: the next step (after the trainer's reset of .grad)
// must bring its own, in both modes.
TEST(GradientReducer, ConsecutiveStepsReturnTheirOwnGradients) {
  auto m = adapted_stories();
  const auto first = gradients(nullptr, nullptr, m, nullptr, nullptr, 5);
  reset_gradients(m);
  const auto second = gradients(nullptr, nullptr, m, nullptr, nullptr, 9);
  for (bool overlap : {true, false}) {
    RecordingGroup group;
    ReducerOptions options;
    options.bucket_mb = 0.01;
    options.overlap = overlap;
    GradientReducer reducer(group, trainable_tensors(m), options);
    for (const auto* reference : {&first, &second, &first}) {
      reset_gradients(m);
      const auto got = gradients(&reducer, &group, m, nullptr, nullptr, reference == &first ? 5 : 9);
      for (size_t i = 0; i < got.size(); ++i)
        EXPECT_TRUE(at::equal(got[i].second, (*reference)[i].second)) << got[i].first << " overlap " << overlap;
    }
  }
}

TEST(GradientReducer, Bfloat16WireRoundsEachGradientOnce) {
  auto m = adapted_stories();
  const auto reference = gradients(nullptr, nullptr, m);
  reset_gradients(m);
  RecordingGroup group;
  ReducerOptions options;
  options.wire_dtype = at::kBFloat16;
  GradientReducer reducer(group, trainable_tensors(m), options);
  EXPECT_EQ(reducer.buckets(), 1);
  EXPECT_EQ(reducer.wire_dtype(), at::kBFloat16);
  const auto got = gradients(&reducer, &group, m);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].second.scalar_type(), at::kFloat);
    EXPECT_TRUE(at::equal(got[i].second, reference[i].second.to(at::kBFloat16).to(at::kFloat))) << got[i].first;
  }
}

}  // namespace
}  // namespace flotilla
