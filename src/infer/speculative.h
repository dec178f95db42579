// Speculative decoding as mlx-lm does it: a small draft model proposes up to num_draft_tokens
// tokens, the model scores them all in one forward and keeps them while its own samples agree,
// then adds its own next token. Greedy output is plain greedy decoding's; sampled output has the
// model's own distribution (every kept token is the model's sample given the tokens before it).
#pragma once
#include <functional>
#include <vector>

#include "infer/generate.h"

namespace flotilla::infer {

GenerationResult generate_speculative(model::LlamaModel& model, model::LlamaModel& draft,
                                      const std::vector<int64_t>& prompt, const GenerationOptions& options,
                                      const std::function<void(int64_t)>& on_token);

}  // namespace flotilla::infer
