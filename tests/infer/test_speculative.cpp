// Speculative decoding: greedy output equals plain greedy decoding token for token, whether the
// draft agrees always (the model itself), mostly (the 4-bit model) or often not (perturbed weights);
// max_tokens and stop tokens end it at the same token; what it cannot do is refused.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/error.h"
#include "infer/generate.h"
#include "model/loader.h"
#include "support/paths.h"

using namespace flotilla::infer;
using namespace flotilla::model;

namespace flotilla {
namespace {

LoadedModel stories(const std::string& folder = "hf") { return load_model((test::stories_dir() / folder).string()); }

// The model with every weight moved by noise: a draft that is often wrong.
LoadedModel perturbed() {
  auto m = stories();
  at::NoGradGuard guard;
  at::manual_seed(5);
  for (auto& p : m.model->parameters()) p.add_(at::randn_like(p) * 0.5 * p.std());
  return m;
}

TEST(Speculative, GreedyOutputEqualsPlainGreedyWhateverTheDraft) {
  auto m = stories();
  GenerationOptions options;
  options.max_tokens = 120;
  const std::vector<int64_t> prompt = {1, 403, 407, 261};
  const auto plain = infer::generate(m.model, prompt, options);
  ASSERT_EQ(plain.tokens.size(), 120u);
  auto same = stories(), quantized = stories("mlx-4bit"), noisy = perturbed();
  struct Case {
    const char* name;
    LlamaModel* draft;
  };
  for (const auto& c : {Case{"itself", &same.model}, Case{"4-bit", &quantized.model}, Case{"perturbed", &noisy.model}}) {
    for (int64_t k : {1, 3, 5}) {
      options.draft = c.draft;
      options.num_draft_tokens = k;
      const auto fast = infer::generate(m.model, prompt, options);
      EXPECT_EQ(fast.tokens, plain.tokens) << c.name << ", k " << k;
      std::cout << "[speculative, draft " << c.name << ", k " << k << "] accepted " << fast.draft_accepted << " of "
                << fast.draft_proposed << "\n";
      if (std::string(c.name) == "itself") {
        EXPECT_EQ(fast.draft_accepted, fast.draft_proposed);
      } else if (std::string(c.name) == "perturbed") {
        EXPECT_LT(fast.draft_accepted, fast.draft_proposed / 2);  // rejections happen
      }
    }
  }
}

TEST(Speculative, EndsAtMaxTokensAndStopTokensLikePlainDecoding) {
  auto m = stories(), draft = stories("mlx-4bit");
  GenerationOptions options;
  options.max_tokens = 40;
  const auto plain = infer::generate(m.model, {1}, options);
  options.draft = &draft.model;
  for (int64_t max_tokens : {1, 2, 7}) {
    options.max_tokens = max_tokens;
    const auto fast = infer::generate(m.model, {1}, options);
    EXPECT_EQ(fast.tokens, std::vector<int64_t>(plain.tokens.begin(), plain.tokens.begin() + max_tokens));
    EXPECT_EQ(fast.finish_reason, "length");
  }
  options.max_tokens = 40;
  options.extra_stop_tokens = {plain.tokens[9]};
  const auto stopped = infer::generate(m.model, {1}, options);
  const auto first = std::find(plain.tokens.begin(), plain.tokens.end(), plain.tokens[9]);
  EXPECT_EQ(stopped.tokens, std::vector<int64_t>(plain.tokens.begin(), first));
  EXPECT_EQ(stopped.finish_reason, "stop");
}

TEST(Speculative, RefusesWhatItCannotDo) {
  auto m = stories(), draft = stories();
  GenerationOptions options;
  options.draft = &draft.model;
  options.max_kv_size = 16;
  EXPECT_THROW(infer::generate(m.model, {1}, options), Error);
  options.max_kv_size = 0;
  options.num_draft_tokens = 0;
  EXPECT_THROW(infer::generate(m.model, {1}, options), Error);
}

}  // namespace
}  // namespace flotilla
