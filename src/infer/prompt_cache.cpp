#include "infer/prompt_cache.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <fmt/format.h>

#include "core/error.h"
#include "data/jsonl.h"
#include "infer/generate.h"
#include "io/safetensors.h"
#include "io/tensor_io.h"
#include "tensor/shape.h"

using namespace flotilla::io;
using namespace flotilla::model;
using namespace flotilla::tensor;

namespace flotilla::infer {

namespace {

const std::string kFormat = "flotilla-prompt-cache", kVersion = "1";

std::string key_name(size_t layer, const char* part) { return "layers." + std::to_string(layer) + "." + part; }

// The model's configuration and its adapter factors, if any: a cache made with an adapter is
// another model's cache.
std::string fingerprint(const LlamaModel& model) {
  std::string adapter_bytes;
  for (const auto& item : model->named_parameters()) {
    const auto& name = item.key();
    if (name.find(".lora_") == std::string::npos && !(name.size() > 2 && name.compare(name.size() - 2, 2, ".m") == 0))
      continue;
    auto t = item.value().detach().to(at::kFloat).cpu().contiguous();
    adapter_bytes.append(name).append(static_cast<const char*>(t.data_ptr()), t.nbytes());
  }
  const std::string config = model_fingerprint(model->config());
  return adapter_bytes.empty() ? config : fmt::format("{}-{:016x}", config, data::hash64(adapter_bytes));
}

}  // namespace

PromptCache prefill_prompt(LlamaModel& model, const std::vector<int64_t>& prompt) {
  check_prompt(model->config(), prompt);
  c10::InferenceMode inference;
  const auto n = static_cast<int64_t>(prompt.size());
  KVCache cache(model->config(), 1, n, model->dtype(), model->device());
  ForwardOptions forward;
  forward.cache = &cache;
  forward.last_only = true;
  model->forward(at::tensor(prompt, at::TensorOptions().dtype(at::kLong).device(model->device())).unsqueeze(0), forward);
  PromptCache out{prompt, {}};
  for (int64_t l = 0; l < cache.layers(); ++l) {
    auto [k, v] = cache.layer(l);
    out.layers.emplace_back(k.cpu().clone(), v.cpu().clone());
  }
  return out;
}

void save_prompt_cache(const std::string& path, const PromptCache& cache, const LlamaModel& model) {
  NamedTensors tensors{{"tokens", at::tensor(cache.tokens, at::kLong)}};
  for (size_t l = 0; l < cache.layers.size(); ++l) {
    tensors.emplace_back(key_name(l, "keys"), cache.layers[l].first);
    tensors.emplace_back(key_name(l, "values"), cache.layers[l].second);
  }
  save_safetensors(path, tensors, {{"format", kFormat}, {"format_version", kVersion}, {"model", fingerprint(model)}});
}

PromptCache load_prompt_cache(const std::string& path, const LlamaModel& model) {
  SafetensorsFile file(path);
  auto meta = [&](const std::string& key) {
    auto it = file.metadata().find(key);
    return it == file.metadata().end() ? std::string() : it->second;
  };
  if (meta("format") != kFormat || meta("format_version") != kVersion)
    fail("prompt_cache", "'{}' is not a Flotilla prompt cache (format '{}' version '{}', expected '{}' version {}); "
         "make one with `flotilla cache-prompt`", path, meta("format"), meta("format_version"), kFormat, kVersion);
  const auto& config = model->config();
  if (meta("model") != fingerprint(model))
    fail("prompt_cache", "'{}' was made by another model or adapter; make it again with this model and --adapter-path",
         path);
  std::map<std::string, TensorInfo> infos;
  for (const auto& info : file.tensors()) infos.emplace(info.name, info);
  auto get = [&](const std::string& name) {
    auto it = infos.find(name);
    if (it == infos.end()) fail("prompt_cache", "'{}' has no tensor '{}'", path, name);
    return load_tensor(file, it->second).clone();
  };
  auto tokens = get("tokens");
  if (tokens.scalar_type() != at::kLong || tokens.dim() != 1 || tokens.numel() == 0)
    fail("prompt_cache", "'{}': 'tokens' must be a non-empty int64 vector", path);
  PromptCache out{{tokens.data_ptr<int64_t>(), tokens.data_ptr<int64_t>() + tokens.numel()}, {}};
  const std::vector<int64_t> shape = {1, config.num_key_value_heads, tokens.numel(), config.head_dim};
  for (int64_t l = 0; l < config.num_hidden_layers; ++l) {
    auto k = get(key_name(l, "keys")), v = get(key_name(l, "values"));
    if (k.sizes() != at::IntArrayRef(shape) || v.sizes() != at::IntArrayRef(shape))
      fail("prompt_cache", "'{}': layer {} holds {} / {}; expected {}", path, l, shape_string(k.sizes()),
           shape_string(v.sizes()), shape_string(shape));
    out.layers.emplace_back(k.to(model->dtype()), v.to(model->dtype()));
  }
  if (infos.size() != 1 + 2 * static_cast<size_t>(config.num_hidden_layers))
    fail("prompt_cache", "'{}' holds {} tensors; a cache of this model holds {}", path, infos.size(),
         1 + 2 * config.num_hidden_layers);
  return out;
}

}  // namespace flotilla::infer
