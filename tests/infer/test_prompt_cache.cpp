// Prompt caches: generating from a saved prefix plus a continuation gives the tokens generating from
// the whole prompt gives (greedy and sampled), and files of another model or format are refused.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "infer/generate.h"
#include "infer/prompt_cache.h"
#include "io/tensor_io.h"
#include "lora/adapters.h"
#include "model/loader.h"
#include "support/paths.h"

using namespace flotilla::infer;
using namespace flotilla::model;

namespace flotilla {
namespace {

const std::vector<int64_t> kPrefix = {1, 403, 407, 261, 378, 432}, kContinuation = {383, 286};

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(PromptCache, ContinuingASavedPrefixEqualsGeneratingFromTheWholePrompt) {
  auto m = load_model((test::stories_dir() / "hf").string());
  const auto path = (test::scratch_dir("prompt-cache") / "prefix.safetensors").string();
  save_prompt_cache(path, prefill_prompt(m.model, kPrefix), m.model);
  const auto cached = load_prompt_cache(path, m.model);
  EXPECT_EQ(cached.tokens, kPrefix);
  std::vector<int64_t> whole = kPrefix;
  whole.insert(whole.end(), kContinuation.begin(), kContinuation.end());
  for (float temperature : {0.0f, 0.9f}) {
    GenerationOptions options;
    options.max_tokens = 60;
    options.sampling.temperature = temperature;
    options.sampling.seed = 11;
    const auto reference = infer::generate(m.model, whole, options);
    options.prompt_cache = &cached;
    const auto continued = infer::generate(m.model, kContinuation, options);
    EXPECT_EQ(continued.tokens, reference.tokens) << "temperature " << temperature;
    EXPECT_EQ(continued.prompt_tokens, 2);
    EXPECT_EQ(reference.tokens.size(), 60u);
  }
  GenerationOptions options;
  options.prompt_cache = &cached;
  EXPECT_NE(error_of([&] { infer::generate(m.model, {}, options); }).find("at least one more prompt token"),
            std::string::npos);
}

TEST(PromptCache, AnotherModelsOrFormatsFileIsRefused) {
  auto m = load_model((test::stories_dir() / "hf").string());
  auto quantized = load_model((test::stories_dir() / "mlx-4bit").string());
  const auto dir = test::scratch_dir("prompt-cache-bad");
  const auto path = (dir / "prefix.safetensors").string();
  save_prompt_cache(path, prefill_prompt(quantized.model, kPrefix), quantized.model);
  EXPECT_NE(error_of([&] { load_prompt_cache(path, m.model); }).find("was made by another model"), std::string::npos);
  // The same base with an adapter attached is another model too.
  auto adapted = load_model((test::stories_dir() / "hf").string());
  lora::LoraConfig lora;
  lora.num_layers = 1;
  lora::apply_fine_tuning(adapted.model, lora, 1);
  save_prompt_cache(path, prefill_prompt(adapted.model, kPrefix), adapted.model);
  EXPECT_NE(error_of([&] { load_prompt_cache(path, m.model); }).find("another model or adapter"), std::string::npos);
  const auto other = (dir / "other.safetensors").string();
  io::save_safetensors(other, {{"tokens", at::ones({3}, at::kLong)}}, {{"format", "mlx"}});
  EXPECT_NE(error_of([&] { load_prompt_cache(other, m.model); }).find("is not a Flotilla prompt cache"), std::string::npos);
  std::ofstream(dir / "truncated.safetensors") << "\x10\x00\x00";
  EXPECT_NE(error_of([&] { load_prompt_cache((dir / "truncated.safetensors").string(), m.model); }).find("truncated.safetensors"),
            std::string::npos);
}

}  // namespace
}  // namespace flotilla
