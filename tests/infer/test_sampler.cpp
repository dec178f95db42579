// Sampler: greedy, determinism, empirical frequencies vs softmax, and exact filter sets.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include "core/error.h"
#include "infer/sampler.h"

using namespace flotilla::infer;

namespace flotilla {
namespace {

SamplingParams params_with(float temperature, int top_k = 0, float top_p = 1.f, float min_p = 0.f, uint64_t seed = 7) {
  SamplingParams params;
  params.temperature = temperature;
  params.top_k = top_k;
  params.top_p = top_p;
  params.min_p = min_p;
  params.seed = seed;
  return params;
}

std::vector<float> random_logits(int64_t vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.f, 2.f);
  std::vector<float> logits(vocab);
  for (auto& x : logits) x = normal(rng);
  return logits;
}

// Logits whose softmax at temperature 1 is exactly proportional to probs.
std::vector<float> logits_for(const std::vector<double>& probs) {
  std::vector<float> logits;
  for (double p : probs) logits.push_back(static_cast<float>(std::log(p)));
  return logits;
}

std::vector<int64_t> draw(Sampler& sampler, const std::vector<float>& logits, int n) {
  std::vector<int64_t> ids;
  for (int i = 0; i < n; ++i) ids.push_back(sampler.sample(logits.data(), static_cast<int64_t>(logits.size())));
  return ids;
}

// Every draw lies in allowed, and every allowed token shows up.
void expect_support(const SamplingParams& params, const std::vector<float>& logits, const std::set<int64_t>& allowed) {
  Sampler sampler(params);
  std::set<int64_t> seen;
  for (int64_t id : draw(sampler, logits, 3000)) {
    ASSERT_TRUE(allowed.count(id)) << "token " << id << " should have been filtered";
    seen.insert(id);
  }
  EXPECT_EQ(seen, allowed);
}

TEST(Sampler, GreedyIsArgmaxFirstOnTies) {
  Sampler sampler(params_with(0.f));
  const std::vector<float> logits = {1.f, 5.f, 3.f, 5.f, -2.f};
  EXPECT_EQ(sampler.sample(logits.data(), 5), 1);
  const auto big = random_logits(150000, 3);
  const int64_t expected = std::max_element(big.begin(), big.end()) - big.begin();
  EXPECT_EQ(sampler.sample(big.data(), 150000), expected);
}

TEST(Sampler, SameSeedSameSequenceDifferentSeedDiffers) {
  const auto logits = random_logits(64, 11);
  Sampler a(params_with(1.f, 0, 1.f, 0.f, /*seed=*/42)), b(params_with(1.f, 0, 1.f, 0.f, /*seed=*/42));
  Sampler c(params_with(1.f, 0, 1.f, 0.f, /*seed=*/43));
  const auto first = draw(a, logits, 200);
  EXPECT_EQ(first, draw(b, logits, 200));
  EXPECT_NE(first, draw(c, logits, 200));
}

TEST(Sampler, FrequenciesMatchTemperatureSoftmax) {
  const std::vector<float> logits = {1.0f, 2.0f, 0.5f, -1.0f, 1.5f};
  const float temperature = 0.7f;
  std::vector<double> probs;
  for (float x : logits) probs.push_back(std::exp(x / temperature));
  const double sum = std::accumulate(probs.begin(), probs.end(), 0.0);
  Sampler sampler(params_with(temperature));
  std::vector<int> counts(logits.size());
  const int n = 20000;
  for (int64_t id : draw(sampler, logits, n)) ++counts[id];
  for (size_t i = 0; i < logits.size(); ++i) {
    const double expected = probs[i] / sum, got = counts[i] / static_cast<double>(n);
    EXPECT_NEAR(got, expected, 0.01) << "token " << i;
  }
}

TEST(Sampler, TopKRenormalizesOverTheKept) {
  const auto logits = logits_for({0.4, 0.1, 0.3, 0.15, 0.05});
  Sampler sampler(params_with(1.f, /*top_k=*/2));
  std::vector<int> counts(logits.size());
  const int n = 20000;
  for (int64_t id : draw(sampler, logits, n)) ++counts[id];
  EXPECT_NEAR(counts[0] / double(n), 0.4 / 0.7, 0.01);
  EXPECT_NEAR(counts[2] / double(n), 0.3 / 0.7, 0.01);
  EXPECT_EQ(counts[0] + counts[2], n);
}

TEST(Sampler, TopKOneIsGreedy) {
  const auto logits = random_logits(1000, 5);
  const int64_t expected = std::max_element(logits.begin(), logits.end()) - logits.begin();
  Sampler sampler(params_with(1.5f, /*top_k=*/1));
  for (int64_t id : draw(sampler, logits, 200)) ASSERT_EQ(id, expected);
}

TEST(Sampler, FiltersKeepExactlyTheExpectedSet) {
  // Shuffled so that the kept tokens are not simply the first ids.
  const auto logits = logits_for({0.05, 0.3, 0.15, 0.5});
  expect_support(params_with(1.f, /*top_k=*/3), logits, {1, 2, 3});
  expect_support(params_with(1.f, 0, /*top_p=*/0.75f), logits, {1, 3});
  expect_support(params_with(1.f, 0, /*top_p=*/0.85f), logits, {1, 2, 3});
  expect_support(params_with(1.f, 0, /*top_p=*/0.3f), logits, {3});
  expect_support(params_with(1.f, 0, 1.f, /*min_p=*/0.2f), logits, {1, 2, 3});  // drops p < 0.1
  expect_support(params_with(1.f, 0, 1.f, /*min_p=*/0.5f), logits, {1, 3});     // drops p < 0.25
  // top_p sees the top-k mass renormalized: 0.5/0.95 + 0.3/0.95 = 0.842 >= 0.83.
  expect_support(params_with(1.f, /*top_k=*/3, /*top_p=*/0.83f), logits, {1, 3});
  // Equal probabilities: ties go to the lower ids, on every platform.
  const std::vector<float> flat(10, 0.25f);
  expect_support(params_with(1.f, /*top_k=*/3), flat, {0, 1, 2});
  expect_support(params_with(1.f, 0, /*top_p=*/0.5f), flat, {0, 1, 2, 3, 4});
}

TEST(Sampler, SeededSequenceIsPinned) {
  // mt19937_64 and the 53-bit uniform are fully specified, so these ids must never change.
  Sampler sampler(params_with(0.8f, /*top_k=*/3, /*top_p=*/0.9f, 0.f, /*seed=*/42));
  const std::vector<float> logits = {0.f, 1.f, 2.f, 0.5f, -1.f, 1.5f};
  const std::vector<int64_t> expected = {5, 2, 5, 1, 5, 1, 2, 2, 2, 2, 1, 2, 2, 2, 5, 5};
  EXPECT_EQ(draw(sampler, logits, 16), expected);
}

TEST(Sampler, TopPOnLargeVocabMatchesFullSort) {
  const int64_t vocab = 150000;
  const auto logits = random_logits(vocab, 9);
  const float top_p = 0.5f;
  std::vector<double> probs(vocab);
  const float max_logit = *std::max_element(logits.begin(), logits.end());
  for (int64_t i = 0; i < vocab; ++i) probs[i] = std::exp(double(logits[i]) - max_logit);
  const double total = std::accumulate(probs.begin(), probs.end(), 0.0);
  std::vector<int64_t> order(vocab);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return probs[a] > probs[b]; });
  std::set<int64_t> nucleus;
  double cumulative = 0.0;
  for (int64_t id : order) {
    nucleus.insert(id);
    cumulative += probs[id];
    if (cumulative >= top_p * total) break;
  }
  ASSERT_GT(nucleus.size(), 1u);
  Sampler sampler(params_with(1.f, 0, top_p));
  std::set<int64_t> seen;
  for (int64_t id : draw(sampler, logits, 500)) {
    ASSERT_TRUE(nucleus.count(id)) << "token " << id;
    seen.insert(id);
  }
  EXPECT_GT(seen.size(), 1u);
}

TEST(Sampler, SingleTokenVocab) {
  const std::vector<float> logits = {0.3f};
  Sampler sampler(params_with(1.f, /*top_k=*/5, /*top_p=*/0.1f, /*min_p=*/0.5f));
  EXPECT_EQ(sampler.sample(logits.data(), 1), 0);
}

TEST(Sampler, InvalidParamsAndLogitsAreRejected) {
  const std::vector<SamplingParams> bad = {
      params_with(-1.f), params_with(NAN),        params_with(INFINITY),        params_with(1.f, -1),
      params_with(1.f, 0, 0.f), params_with(1.f, 0, 1.5f), params_with(1.f, 0, 1.f, 1.f),
      params_with(1.f, 0, 1.f, -0.1f)};
  for (const auto& params : bad) {
    try {
      Sampler sampler(params);
      ADD_FAILURE() << "accepted T=" << params.temperature << " top_k=" << params.top_k << " top_p=" << params.top_p
                    << " min_p=" << params.min_p;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("[sampler]"), std::string::npos) << e.what();
    }
  }
  Sampler sampler(params_with(1.f));
  const std::vector<float> with_nan = {0.f, NAN, 1.f};
  EXPECT_THROW(sampler.sample(with_nan.data(), 3), Error);
  EXPECT_THROW(sampler.sample(with_nan.data(), 0), Error);
}

}  // namespace
}  // namespace flotilla
