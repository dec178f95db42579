// Token-level generation: prefill the prompt, then sample one token at a time with a KV cache.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "flotilla/generate.h"
#include "infer/prompt_cache.h"
#include "infer/sampler.h"
#include "model/llama.h"

namespace flotilla::infer {

// The public settings, and the ids that end generation besides settings.extra_stop_tokens.
struct GenerationOptions : GenerateSettings {
  std::vector<int64_t> stop_tokens;  // usually the model's EOS ids
  model::LlamaModel* draft = nullptr;  // speculative decoding: proposes num_draft_tokens at a time
  const PromptCache* prompt_cache = nullptr;  // a prefilled prompt the given one continues
};

struct GenerationResult {
  std::vector<int64_t> tokens;  // generated tokens, without the prompt, stop token excluded
  std::string finish_reason;    // "stop", "length" or "context" (model's maximum positions reached)
  int64_t prompt_tokens = 0;  // processed in this run (a prompt cache's are not)
  int64_t draft_proposed = 0, draft_accepted = 0;  // speculative decoding's draft tokens
  double prompt_seconds = 0;      // prefill and the first sampled token
  double generation_seconds = 0;  // every later token
  double prompt_tokens_per_sec() const;
  double generation_tokens_per_sec() const;
};

// Checks prompt ids against the vocabulary and the context.
void check_prompt(const model::ModelConfig& config, const std::vector<int64_t>& prompt);

// Takes sampled tokens one at a time and says when the run ends: a stop token (not recorded),
// max_tokens, or `end` tokens in all (the context, or prompt + max_tokens).
class TokenSink {
 public:
  // `length`: the tokens before the first generated one (prompt and cached prompt).
  TokenSink(const GenerationOptions& options, GenerationResult& result, int64_t length, int64_t end,
            const std::function<void(int64_t)>& on_token);
  bool take(int64_t token);  // false once the run is over
  int64_t length() const { return length_; }  // prompt and recorded tokens

 private:
  const GenerationOptions& options_;
  GenerationResult& result_;
  int64_t end_, length_;
  const std::function<void(int64_t)>& on_token_;
};

// on_token is called with each token as it is produced (before the stop check ends the run).
GenerationResult generate(model::LlamaModel& model, const std::vector<int64_t>& prompt, const GenerationOptions& options,
                          const std::function<void(int64_t)>& on_token = {});

// The three lines mlx_lm.generate prints after a run.
std::string format_generation_stats(const GenerationResult& result);

}  // namespace flotilla::infer
