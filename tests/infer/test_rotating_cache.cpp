// The rotating KV cache (--max-kv-size N): each decoded token attends to the first 4 tokens and the
// N - 4 most recent ones, checked against full recomputation under exactly that attention mask in
// float64, with a short prompt and with a prompt longer than the cache.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <c10/core/InferenceMode.h>

#include "core/error.h"
#include "infer/generate.h"
#include "model/loader.h"
#include "support/paths.h"

using namespace flotilla::infer;
using namespace flotilla::model;

namespace flotilla {
namespace {

constexpr int64_t kSize = 12, kKeep = 4;

LoadedModel stories64() {
  LoadOptions options;
  options.dtype = at::kDouble;
  return load_model((test::stories_dir() / "hf").string(), options);
}

// Last-position logits of `tokens` recomputed from scratch: prompt queries see every earlier token,
// later queries the first kKeep and the kSize - kKeep most recent (themselves included).
at::Tensor windowed_logits(LlamaModel& model, const std::vector<int64_t>& tokens, int64_t prompt_length) {
  const int64_t L = static_cast<int64_t>(tokens.size());
  auto visible = at::ones({L, L}, at::kBool);
  for (int64_t i = prompt_length; i < L; ++i)
    for (int64_t p = kKeep; p <= i - (kSize - kKeep); ++p) visible[i][p] = false;
  ForwardOptions options;
  options.visible = visible;
  auto logits = model->forward(at::tensor(tokens, at::kLong).unsqueeze(0), options);
  return logits[0][L - 1];
}

at::Tensor plain_logits(LlamaModel& model, const std::vector<int64_t>& tokens) {
  auto logits = model->forward(at::tensor(tokens, at::kLong).unsqueeze(0));
  return logits[0][static_cast<int64_t>(tokens.size()) - 1];
}

TEST(RotatingCache, DecodingAttendsToTheFirstTokensAndTheMostRecentOnes) {
  auto m = stories64();
  c10::InferenceMode guard;
  for (const std::vector<int64_t>& prompt : {std::vector<int64_t>{1, 403, 407, 261, 378, 300},
                                            std::vector<int64_t>{1, 403, 407, 261, 378, 300, 301, 302, 303, 304, 305,
                                                                 306, 307, 308, 309, 310, 311, 312, 313, 314}}) {
    KVCache cache(m.config, 1, kSize, at::kDouble, at::kCPU, kKeep);
    ForwardOptions options;
    options.cache = &cache;
    const int64_t P = static_cast<int64_t>(prompt.size());
    auto logits = m.model->forward(at::tensor(prompt, at::kLong).unsqueeze(0), options)[0][P - 1];
    std::vector<int64_t> tokens = prompt;
    double worst = (logits - windowed_logits(m.model, tokens, P)).abs().max().item<double>(), window_effect = 0;
    for (int step = 0; step < 30; ++step) {
      tokens.push_back(logits.argmax().item<int64_t>());
      logits = m.model->forward(at::tensor(std::vector<int64_t>{tokens.back()}, at::kLong).unsqueeze(0), options)[0][0];
      worst = std::max(worst, (logits - windowed_logits(m.model, tokens, P)).abs().max().item<double>());
      window_effect = std::max(window_effect, (logits - plain_logits(m.model, tokens)).abs().max().item<double>());
    }
    EXPECT_EQ(cache.length(), P + 30);
    EXPECT_EQ(cache.stored(), kSize);
    std::cout << "[rotating cache, prompt " << P << "] max |logit - windowed recomputation| = " << worst
              << "; the window moves logits by " << window_effect << "\n";
    EXPECT_LE(worst, 1e-10);
    EXPECT_GT(window_effect, 1e-3);  // the window matters, so the comparison can fail
  }
}

TEST(RotatingCache, GenerateRunsPastTheCacheAndRefusesATooSmallOne) {
  auto m = load_model((test::stories_dir() / "hf").string());
  GenerationOptions options;
  options.max_tokens = 60;
  options.max_kv_size = kSize;
  EXPECT_EQ(infer::generate(m.model, {1}, options).tokens.size(), 60u);
  options.max_kv_size = kKeep;
  try {
    infer::generate(m.model, {1}, options);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--max-kv-size 4 leaves no room"), std::string::npos) << e.what();
  }
  KVCache cache(m.config, 1, kSize, at::kFloat, at::kCPU);
  ForwardOptions forward;
  forward.cache = &cache;
  c10::InferenceMode guard;
  m.model->forward(at::ones({1, kSize}, at::kLong), forward);
  EXPECT_THROW(m.model->forward(at::ones({1, 1}, at::kLong), forward), Error);  // a plain cache never rotates
}

}  // namespace
}  // namespace flotilla
