#include "infer/generate.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include "core/error.h"
#include "core/memory.h"
#include "core/timer.h"

using namespace flotilla::io;
using namespace flotilla::model;

namespace flotilla::infer {

namespace {

constexpr int64_t kRotatingCacheKeeps = 4;  // as mlx-lm's make_prompt_cache

int64_t sample_last(Sampler& sampler, const at::Tensor& logits) {
  auto last = logits.select(0, 0).select(0, logits.size(1) - 1).to(at::kFloat).cpu().contiguous();
  return sampler.sample(last.data_ptr<float>(), last.size(0));
}

}  // namespace

double GenerationResult::prompt_tokens_per_sec() const { return prompt_seconds > 0 ? prompt_tokens / prompt_seconds : 0; }

double GenerationResult::generation_tokens_per_sec() const {
  const auto later = static_cast<double>(tokens.size()) - 1;
  return generation_seconds > 0 && later > 0 ? later / generation_seconds : 0;
}

GenerationResult generate(LlamaModel& model, const std::vector<int64_t>& prompt, const GenerationOptions& options,
                          const std::function<void(int64_t)>& on_token) {
  if (prompt.empty()) fail("generate", "the prompt is empty; give at least one token (e.g. BOS)");
  const auto& config = model->config();
  for (auto id : prompt) {
    if (id < 0 || id >= config.vocab_size) fail("generate", "prompt token {} is outside the vocabulary [0, {})", id, config.vocab_size);
  }
  const int64_t context = config.max_position_embeddings;
  if (static_cast<int64_t>(prompt.size()) >= context)
    fail("generate", "the prompt has {} tokens; the model's context is {}", prompt.size(), context);

  c10::InferenceMode inference;
  Sampler sampler(options.sampling);
  GenerationResult result;
  result.prompt_tokens = static_cast<int64_t>(prompt.size());
  const int64_t end = std::min<int64_t>(context, result.prompt_tokens + options.max_tokens);
  if (options.max_kv_size < 0) fail("generate", "--max-kv-size is {}; give a positive number of tokens", options.max_kv_size);
  if (options.max_kv_size > 0 && options.max_kv_size <= kRotatingCacheKeeps)
    fail("generate", "--max-kv-size {} leaves no room beside the {} first tokens it keeps; give more than {}",
         options.max_kv_size, kRotatingCacheKeeps, kRotatingCacheKeeps);
  std::optional<KVCache> cache;
  if (options.use_kv_cache) {
    if (options.max_kv_size > 0 && options.max_kv_size < end)
      cache.emplace(config, 1, options.max_kv_size, model->dtype(), model->device(), kRotatingCacheKeeps);
    else
      cache.emplace(config, 1, end, model->dtype(), model->device());
  }

  auto long_options = at::TensorOptions().dtype(at::kLong).device(model->device());
  std::vector<int64_t> sequence = prompt;
  Timer timer;
  ForwardOptions forward;
  forward.cache = cache ? &*cache : nullptr;
  forward.last_only = true;
  auto logits = model->forward(at::tensor(sequence, long_options).unsqueeze(0), forward);
  result.finish_reason = "length";
  for (int64_t step = 0; step < options.max_tokens; ++step) {
    const int64_t token = sample_last(sampler, logits);
    if (step == 0) {
      result.prompt_seconds = timer.seconds();
      timer.restart();
    }
    auto stops = [token](const std::vector<int64_t>& ids) { return std::find(ids.begin(), ids.end(), token) != ids.end(); };
    if (stops(options.stop_tokens) || stops(options.extra_stop_tokens)) {
      result.finish_reason = "stop";
      break;
    }
    result.tokens.push_back(token);
    sequence.push_back(token);
    if (on_token) on_token(token);
    if (step + 1 == options.max_tokens) break;
    if (static_cast<int64_t>(sequence.size()) >= end) {
      result.finish_reason = "context";
      break;
    }
    auto input = cache ? at::tensor(std::vector<int64_t>{token}, long_options).unsqueeze(0)
                       : at::tensor(sequence, long_options).unsqueeze(0);
    logits = model->forward(input, forward);
  }
  result.generation_seconds = timer.seconds();
  return result;
}

std::string format_generation_stats(const GenerationResult& r) {
  return fmt::format("Prompt: {} tokens, {:.3f} tokens-per-sec\nGeneration: {} tokens, {:.3f} tokens-per-sec\nPeak memory: {:.3f} GB\n",
                     r.prompt_tokens, r.prompt_tokens_per_sec(), r.tokens.size(), r.generation_tokens_per_sec(),
                     peak_memory_gb());
}

}  // namespace flotilla::infer
