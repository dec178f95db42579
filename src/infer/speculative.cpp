#include "infer/speculative.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>

#include "core/error.h"
#include "core/timer.h"

using namespace flotilla::model;

namespace flotilla::infer {

namespace {

// One model with its cache, fed the tokens it has not seen yet.
struct Decoder {
  LlamaModel& model;
  KVCache cache;
  std::vector<int64_t> pending;  // tokens not yet in the cache
  // Runs the pending tokens (then `more`) and returns logits [T, V] for them all, or the last only.
  at::Tensor feed(const std::vector<int64_t>& more, bool last_only) {
    pending.insert(pending.end(), more.begin(), more.end());
    ForwardOptions forward;
    forward.cache = &cache;
    forward.last_only = last_only;
    auto input = at::tensor(pending, at::TensorOptions().dtype(at::kLong).device(model->device())).unsqueeze(0);
    pending.clear();
    return model->forward(input, forward)[0].to(at::kFloat).cpu().contiguous();
  }
};

int64_t sample_row(Sampler& sampler, const at::Tensor& logits, int64_t row) {
  auto r = logits[row];
  return sampler.sample(r.data_ptr<float>(), r.size(0));
}

}  // namespace

GenerationResult generate_speculative(LlamaModel& model, LlamaModel& draft, const std::vector<int64_t>& prompt,
                                      const GenerationOptions& options, const std::function<void(int64_t)>& on_token) {
  const auto& config = model->config();
  check_prompt(config, prompt);
  if (draft->config().vocab_size != config.vocab_size)
    fail("generate", "the draft model's vocabulary has {} tokens, the model's {}: --draft-model needs the same "
         "tokenizer", draft->config().vocab_size, config.vocab_size);
  if (options.num_draft_tokens < 1)
    fail("generate", "--num-draft-tokens is {}; give at least 1", options.num_draft_tokens);
  if (options.prompt_cache) fail("generate", "--draft-model with --prompt-cache-file is not supported yet");
  if (options.max_kv_size > 0 || !options.use_kv_cache)
    fail("generate", "--draft-model needs a plain KV cache: rejected draft tokens are taken back out of it, which a "
         "rotating cache (--max-kv-size) cannot do");
  c10::InferenceMode inference;
  GenerationResult result;
  result.prompt_tokens = static_cast<int64_t>(prompt.size());
  const int64_t end = std::min<int64_t>(config.max_position_embeddings, result.prompt_tokens + options.max_tokens);
  Decoder target{model, KVCache(config, 1, end, model->dtype(), model->device()), {}};
  Decoder drafter{draft, KVCache(draft->config(), 1, end, draft->dtype(), draft->device()), {}};
  Sampler sampler(options.sampling);
  SamplingParams draft_params = options.sampling;
  draft_params.seed += 1;
  Sampler draft_sampler(draft_params);
  // Both models see the prompt but its last token, which opens the first round.
  const std::vector<int64_t> head(prompt.begin(), prompt.end() - 1);
  target.pending = drafter.pending = head;
  if (!head.empty()) target.feed({}, true), drafter.feed({}, true);
  target.pending = drafter.pending = {prompt.back()};

  TokenSink sink(options, result, result.prompt_tokens, end, on_token);
  Timer timer;
  bool first = true, running = true;
  while (running) {
    const int64_t room = std::min<int64_t>(options.max_tokens - static_cast<int64_t>(result.tokens.size()),
                                           end - sink.length()) - 1;
    const int64_t k = std::min<int64_t>(options.num_draft_tokens, std::max<int64_t>(0, room));
    std::vector<int64_t> drafts;
    for (int64_t i = 0; i < k; ++i)
      drafts.push_back(sample_row(draft_sampler, drafter.feed(i == 0 ? std::vector<int64_t>{} : std::vector<int64_t>{drafts.back()}, true), 0));
    auto logits = target.feed(drafts, false);  // [1 + k, V]: the model's view after each token
    int64_t n = 0, token = sample_row(sampler, logits, 0);
    while (n < k && token == drafts[n]) token = sample_row(sampler, logits, ++n);
    result.draft_proposed += k;
    result.draft_accepted += n;
    for (int64_t i = 0; i <= n && running; ++i) running = sink.take(i < n ? drafts[i] : token);
    if (first) {
      result.prompt_seconds = timer.seconds();
      timer.restart();
      first = false;
    }
    // Take the rejected drafts back out: the model saw all k, the draft model all but the last.
    target.cache.trim(k - n);
    drafter.cache.trim(std::max<int64_t>(k - n - 1, 0));
    target.pending = {token};
    if (k == 0) drafter.pending.push_back(token);
    else drafter.pending = n == k ? std::vector<int64_t>{drafts.back(), token} : std::vector<int64_t>{token};
  }
  result.generation_seconds = timer.seconds();
  return result;
}

}  // namespace flotilla::infer
