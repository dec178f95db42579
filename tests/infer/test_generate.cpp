// Generation: KV-cache decoding equals full recomputation; greedy output of the 4-bit model.
#include <gtest/gtest.h>

#include <algorithm>
#include <regex>

#include "infer/generate.h"
#include "model/loader.h"
#include "support/golden.h"
#include "support/paths.h"

using namespace flotilla::infer;
using namespace flotilla::model;
using namespace flotilla::io;

namespace flotilla {
namespace {

TEST(Generate, KvCacheEqualsRecomputationFor200Tokens) {
  auto m = load_model((test::stories_dir() / "hf").string());
  GenerationOptions options;
  options.max_tokens = 200;  // no stop tokens: all 200 are compared
  auto cached = infer::generate(m.model, {1}, options);
  options.use_kv_cache = false;
  auto recomputed = infer::generate(m.model, {1}, options);
  ASSERT_EQ(cached.tokens.size(), 200u);
  EXPECT_EQ(cached.tokens, recomputed.tokens);
}

TEST(Generate, SampledRunWithCacheEqualsRecomputation) {
  auto m = load_model((test::stories_dir() / "hf").string());
  GenerationOptions options;
  options.max_tokens = 100;
  options.sampling = {/*temperature=*/0.8f, /*top_k=*/40, /*top_p=*/0.95f, /*min_p=*/0.02f, /*seed=*/7};
  auto cached = infer::generate(m.model, {1, 403}, options);
  options.use_kv_cache = false;
  EXPECT_EQ(cached.tokens, infer::generate(m.model, {1, 403}, options).tokens);
}

TEST(Generate, Mlx4bitGreedyFromBosMatchesReference) {
  auto ref = test::read_json(test::stories_dir() / "mlx-4bit" / "expected_greedy_bos_60.json");
  auto m = load_model((test::stories_dir() / "mlx-4bit").string(), {at::kFloat});
  GenerationOptions options;
  options.max_tokens = 60;
  auto result = infer::generate(m.model, ref["prompt_tokens"].get<std::vector<int64_t>>(), options);
  EXPECT_EQ(result.tokens, ref["greedy_tokens"].get<std::vector<int64_t>>());
}

TEST(Generate, StopsOnStopTokenAndReportsStats) {
  auto m = load_model((test::stories_dir() / "hf").string());
  GenerationOptions options;
  options.max_tokens = 30;
  auto free_run = infer::generate(m.model, {1}, options);
  ASSERT_EQ(free_run.finish_reason, "length");
  // Stop on the 11th token: output ends right before its first occurrence.
  const int64_t stop = free_run.tokens[10];
  const auto first = std::find(free_run.tokens.begin(), free_run.tokens.end(), stop);
  options.stop_tokens = {stop};
  std::vector<int64_t> streamed;
  auto result = infer::generate(m.model, {1}, options, [&](int64_t t) { streamed.push_back(t); });
  EXPECT_EQ(result.finish_reason, "stop");
  EXPECT_EQ(result.tokens, std::vector<int64_t>(free_run.tokens.begin(), first));
  EXPECT_EQ(streamed, result.tokens);
  auto stats = format_generation_stats(result);
  EXPECT_TRUE(std::regex_search(stats, std::regex(R"(Prompt: 1 tokens, [0-9.]+ tokens-per-sec\n)"))) << stats;
  EXPECT_TRUE(std::regex_search(stats, std::regex(R"(Generation: \d+ tokens, [0-9.]+ tokens-per-sec\n)"))) << stats;
  EXPECT_TRUE(std::regex_search(stats, std::regex(R"(Peak memory: [0-9.]+ GB)"))) << stats;
}

TEST(Generate, StopsAtTheContextLimit) {
  auto m = load_model((test::stories_dir() / "hf").string());
  GenerationOptions options;
  options.max_tokens = 1000;
  auto result = infer::generate(m.model, std::vector<int64_t>(500, 300), options);
  EXPECT_EQ(result.finish_reason, "context");
  EXPECT_EQ(result.prompt_tokens + static_cast<int64_t>(result.tokens.size()), 512);
}

TEST(Generate, RejectsBadPrompts) {
  auto m = load_model((test::stories_dir() / "hf").string());
  EXPECT_THROW(infer::generate(m.model, {}, {}), std::exception);
  EXPECT_THROW(infer::generate(m.model, {1, 512}, {}), std::exception);
  EXPECT_THROW(infer::generate(m.model, std::vector<int64_t>(512, 5), {}), std::exception);
}

}  // namespace
}  // namespace flotilla
