#include "infer/generate.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include "core/error.h"
#include "core/memory.h"
#include "core/timer.h"
#include "infer/speculative.h"

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

void check_prompt(const ModelConfig& config, const std::vector<int64_t>& prompt) {
  if (prompt.empty()) fail("generate", "the prompt is empty; give at least one token (e.g. BOS)");
  for (auto id : prompt) {
    if (id < 0 || id >= config.vocab_size) fail("generate", "prompt token {} is outside the vocabulary [0, {})", id, config.vocab_size);
  }
  if (static_cast<int64_t>(prompt.size()) >= config.max_position_embeddings)
    fail("generate", "the prompt has {} tokens; the model's context is {}", prompt.size(), config.max_position_embeddings);
}

TokenSink::TokenSink(const GenerationOptions& options, GenerationResult& result, int64_t length, int64_t end,
                     const std::function<void(int64_t)>& on_token)
    : options_(options), result_(result), end_(end), length_(length), on_token_(on_token) {
  result_.finish_reason = "length";
}

bool TokenSink::take(int64_t token) {
  auto stops = [token](const std::vector<int64_t>& ids) { return std::find(ids.begin(), ids.end(), token) != ids.end(); };
  if (stops(options_.stop_tokens) || stops(options_.extra_stop_tokens)) {
    result_.finish_reason = "stop";
    return false;
  }
  result_.tokens.push_back(token);
  ++length_;
  if (on_token_) on_token_(token);
  if (static_cast<int64_t>(result_.tokens.size()) == options_.max_tokens) return false;
  if (length_ >= end_) {
    result_.finish_reason = "context";
    return false;
  }
  return true;
}

GenerationResult generate(LlamaModel& model, const std::vector<int64_t>& prompt, const GenerationOptions& options,
                          const std::function<void(int64_t)>& on_token) {
  if (options.draft) return generate_speculative(model, *options.draft, prompt, options, on_token);
  const auto& config = model->config();
  // With a prompt cache the prompt continues the cached one, which the cache already holds.
  std::vector<int64_t> sequence = options.prompt_cache ? options.prompt_cache->tokens : std::vector<int64_t>{};
  if (options.prompt_cache && prompt.empty())
    fail("generate", "a prompt cache needs at least one more prompt token to continue from");
  if (options.prompt_cache && !options.use_kv_cache) fail("generate", "a prompt cache needs the KV cache");
  sequence.insert(sequence.end(), prompt.begin(), prompt.end());
  check_prompt(config, sequence);
  c10::InferenceMode inference;
  Sampler sampler(options.sampling);
  GenerationResult result;
  result.prompt_tokens = static_cast<int64_t>(prompt.size());
  const auto length = static_cast<int64_t>(sequence.size());
  const int64_t end = std::min<int64_t>(config.max_position_embeddings, length + options.max_tokens);
  if (options.max_kv_size < 0) fail("generate", "--max-kv-size is {}; give a positive number of tokens", options.max_kv_size);
  if (options.max_kv_size > 0 && options.max_kv_size <= kRotatingCacheKeeps)
    fail("generate", "--max-kv-size {} leaves no room beside the {} first tokens it keeps; give more than {}",
         options.max_kv_size, kRotatingCacheKeeps, kRotatingCacheKeeps);
  std::optional<KVCache> cache;
  if (options.use_kv_cache) {
    // A window on every layer needs no more than its last keys: a rotating cache of the window is
    // exact. Global layers among local ones (Gemma) need every key.
    const int64_t window = config.uniform_window() && !options.prompt_cache ? config.sliding_window : end;
    if (options.max_kv_size > 0 && options.max_kv_size < std::min(end, window))
      cache.emplace(config, 1, options.max_kv_size, model->dtype(), model->device(), kRotatingCacheKeeps);
    else if (window < end)
      cache.emplace(config, 1, window, model->dtype(), model->device(), /*keep=*/0);
    else
      cache.emplace(config, 1, end, model->dtype(), model->device());
  }
  if (options.prompt_cache) {
    const auto& layers = options.prompt_cache->layers;
    for (size_t l = 0; l < layers.size(); ++l) cache->restore(static_cast<int64_t>(l), layers[l].first, layers[l].second);
    cache->set_length(static_cast<int64_t>(options.prompt_cache->tokens.size()));
  }

  auto long_options = at::TensorOptions().dtype(at::kLong).device(model->device());
  Timer timer;
  ForwardOptions forward;
  forward.cache = cache ? &*cache : nullptr;
  forward.last_only = true;
  auto logits = model->forward(at::tensor(cache ? prompt : sequence, long_options).unsqueeze(0), forward);
  TokenSink sink(options, result, length, end, on_token);
  for (int64_t step = 0; step < options.max_tokens; ++step) {
    const int64_t token = sample_last(sampler, logits);
    if (step == 0) {
      result.prompt_seconds = timer.seconds();
      timer.restart();
    }
    if (!sink.take(token)) break;
    sequence.push_back(token);
    auto input = cache ? at::tensor(std::vector<int64_t>{token}, long_options).unsqueeze(0)
                       : at::tensor(sequence, long_options).unsqueeze(0);
    logits = model->forward(input, forward);
  }
  result.generation_seconds = timer.seconds();
  return result;
}

std::string format_generation_stats(const GenerationResult& r) {
  const std::string drafts = r.draft_proposed == 0 ? "" : fmt::format("Draft tokens accepted: {} of {} ({:.1f}%)\n",
      r.draft_accepted, r.draft_proposed, 100.0 * r.draft_accepted / r.draft_proposed);
  return fmt::format("Prompt: {} tokens, {:.3f} tokens-per-sec\nGeneration: {} tokens, {:.3f} tokens-per-sec\n{}Peak memory: {:.3f} GB\n",
                     r.prompt_tokens, r.prompt_tokens_per_sec(), r.tokens.size(), r.generation_tokens_per_sec(),
                     drafts, peak_memory_gb());
}

}  // namespace flotilla::infer
