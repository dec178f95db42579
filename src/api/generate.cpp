// flotilla/generate.h over infer/generate: stop tokens from the model folder, streamed text.
#include "flotilla/generate.h"

#include <optional>

#include "api/model_state.h"
#include "core/memory.h"
#include "infer/generate.h"

using namespace flotilla::infer;
using namespace flotilla::io;
using namespace flotilla::model;

namespace flotilla {

GenerateOutput generate(const Model& model, const std::vector<int64_t>& prompt, const GenerateSettings& settings,
                        const TokenCallback& on_token) {
  auto& state = model.state();
  std::vector<int64_t> ids = prompt;
  const bool continues_cache = !settings.prompt_cache_file.empty();
  if (ids.empty() && !continues_cache && state.loaded.config.bos_token_id >= 0)
    ids.push_back(state.loaded.config.bos_token_id);

  GenerationOptions options;
  static_cast<GenerateSettings&>(options) = settings;
  options.stop_tokens = state.loaded.config.eos_token_ids;
  if (settings.draft_model) options.draft = &settings.draft_model->state().loaded.model;
  std::optional<PromptCache> cached;
  if (continues_cache) cached = load_prompt_cache(settings.prompt_cache_file, state.loaded.model);
  options.prompt_cache = cached ? &*cached : nullptr;
  if (state.tokenizer) {
    for (auto id : state.tokenizer->eos_ids()) options.stop_tokens.push_back(id);
  }

  GenerateOutput out;
  std::optional<StreamingDecoder> text;
  if (state.tokenizer) text.emplace(*state.tokenizer);
  auto result = generate(state.loaded.model, ids, options, [&](int64_t token) {
    const std::string piece = text ? text->push(token) : "";
    out.text += piece;
    if (on_token) on_token(token, piece);
  });
  if (text) {
    const std::string rest = text->finish();
    out.text += rest;
    if (on_token && !rest.empty()) on_token(-1, rest);
  }
  out.tokens = result.tokens;
  out.finish_reason = result.finish_reason;
  out.prompt_tokens = result.prompt_tokens;
  out.prompt_tokens_per_sec = result.prompt_tokens_per_sec();
  out.generation_tokens_per_sec = result.generation_tokens_per_sec();
  out.peak_memory_gb = peak_memory_gb();
  out.stats = format_generation_stats(result);
  return out;
}

void cache_prompt(const Model& model, const std::vector<int64_t>& prompt, const std::string& path) {
  auto& loaded = model.state().loaded;
  save_prompt_cache(path, prefill_prompt(loaded.model, prompt), loaded.model);
}

GenerateOutput generate(const Model& model, const std::string& user_message, const GenerateSettings& settings,
                        const TokenCallback& on_token) {
  return generate(model, model.encode_chat({{"user", user_message}}), settings, on_token);
}

}  // namespace flotilla
