// Token-level generation: prefill the prompt, then sample one token at a time with a KV cache.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "flotilla/generate.h"
#include "infer/sampler.h"
#include "model/llama.h"

namespace flotilla::infer {

// The public settings, and the ids that end generation besides settings.extra_stop_tokens.
struct GenerationOptions : GenerateSettings {
  std::vector<int64_t> stop_tokens;  // usually the model's EOS ids
};

struct GenerationResult {
  std::vector<int64_t> tokens;  // generated tokens, without the prompt, stop token excluded
  std::string finish_reason;    // "stop", "length" or "context" (model's maximum positions reached)
  int64_t prompt_tokens = 0;
  double prompt_seconds = 0;      // prefill and the first sampled token
  double generation_seconds = 0;  // every later token
  double prompt_tokens_per_sec() const;
  double generation_tokens_per_sec() const;
};

// on_token is called with each token as it is produced (before the stop check ends the run).
GenerationResult generate(model::LlamaModel& model, const std::vector<int64_t>& prompt, const GenerationOptions& options,
                          const std::function<void(int64_t)>& on_token = {});

// The three lines mlx_lm.generate prints after a run.
std::string format_generation_stats(const GenerationResult& result);

}  // namespace flotilla::infer
