// Text generation: prefill the prompt, then sample token by token with a KV cache, streaming the
// decoded text as it is produced.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "flotilla/model.h"
#include "flotilla/sampling.h"

namespace flotilla {

struct GenerateSettings {
  int64_t max_tokens = 100;
  SamplingParams sampling;
  std::vector<int64_t> extra_stop_tokens;  // besides the model's EOS ids
  bool use_kv_cache = true;                // false recomputes the whole sequence each step (for checks)
  // > 0: a rotating cache of this many tokens that keeps the first 4 (mlx-lm's --max-kv-size):
  // memory stays bounded in long chats, and attention sees those 4 and the most recent tokens.
  int64_t max_kv_size = 0;
  // Speculative decoding (mlx-lm's --draft-model): a smaller model with the same tokenizer proposes
  // num_draft_tokens at a time; greedy output is unchanged, sampled output keeps its distribution.
  const Model* draft_model = nullptr;
  int64_t num_draft_tokens = 3;
  // A file from cache_prompt: its prompt is already in the KV cache and the given one continues it.
  std::string prompt_cache_file;
};

struct GenerateOutput {
  std::string text;             // decoded (empty when the model folder has no tokenizer)
  std::vector<int64_t> tokens;  // without the prompt; the stop token excluded
  std::string finish_reason;    // "stop", "length" or "context"
  int64_t prompt_tokens = 0;
  double prompt_tokens_per_sec = 0, generation_tokens_per_sec = 0;
  double peak_memory_gb = 0;
  std::string stats;  // the three lines mlx_lm.generate prints after a run
};

// Called with each new token and the text it completes ("" while a character is incomplete or
// when the model has no tokenizer); at the end once more with token -1 for any text held back.
using TokenCallback = std::function<void(int64_t token, const std::string& text)>;

// An empty prompt starts from the BOS token.
GenerateOutput generate(const Model& model, const std::vector<int64_t>& prompt, const GenerateSettings& settings = {},
                        const TokenCallback& on_token = {});
// Runs the prompt through the model and saves its KV cache to `path` (mlx-lm's cache_prompt), so
// generate with prompt_cache_file starts after it.
void cache_prompt(const Model& model, const std::vector<int64_t>& prompt, const std::string& path);

// One user message through the model's chat template.
GenerateOutput generate(const Model& model, const std::string& user_message, const GenerateSettings& settings = {},
                        const TokenCallback& on_token = {});

}  // namespace flotilla
