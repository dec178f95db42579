// A prefilled prompt kept in a file (mlx-lm's --prompt-cache-file): its tokens, every layer's keys
// and values, and the fingerprint of the model (and adapter) that made them, so a later run starts after it.
#pragma once
#include <ATen/Tensor.h>

#include <string>
#include <utility>
#include <vector>

#include "model/llama.h"

namespace flotilla::infer {

struct PromptCache {
  std::vector<int64_t> tokens;
  std::vector<std::pair<at::Tensor, at::Tensor>> layers;  // keys, values [1, Hkv, tokens, D]
};

// Runs the prompt through the model and keeps what its cache holds.
PromptCache prefill_prompt(model::LlamaModel& model, const std::vector<int64_t>& prompt);

// Written atomically; loading refuses another model's file and files that are not prompt caches.
void save_prompt_cache(const std::string& path, const PromptCache& cache, const model::LlamaModel& model);
PromptCache load_prompt_cache(const std::string& path, const model::LlamaModel& model);

}  // namespace flotilla::infer
