#include "lora/adapters.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <fmt/ranges.h>

#include "core/error.h"
#include "core/text.h"
#include "lora/adapter_folder.h"
#include "lora/peft.h"
#include "tensor/finite.h"
#include "tensor/shape.h"
#include "io/weight_store.h"

using namespace flotilla::io;
using namespace flotilla::tensor;
using namespace flotilla::model;

namespace flotilla::lora {

namespace {

const char* const kBlockLinears[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",   "self_attn.o_proj",
                                     "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj",
                                     "self_attn.qkv_proj", "mlp.gate_up_proj",  // fused (Phi-3)
                                     "mlp.gate", "mlp.switch_mlp.gate_proj", "mlp.switch_mlp.up_proj",  // router and experts
                                     "mlp.switch_mlp.down_proj"};

// Block index of "model.layers.N.<...>", or -1 for layers outside the blocks.
int64_t block_of(const std::string& name) {
  const std::string prefix = "model.layers.";
  if (name.compare(0, prefix.size(), prefix) != 0) return -1;
  return std::stoll(name.substr(prefix.size()));
}

// A block among the last num_layers (all for -1); names outside the blocks are never tuned.
bool in_tuned_blocks(const std::string& name, int64_t num_layers, int64_t layers) {
  const int64_t block = block_of(name);
  return block >= 0 && block >= (num_layers < 0 ? 0 : layers - num_layers);
}

bool matches_keys(const std::string& name, const std::vector<std::string>& keys) {
  return keys.empty() ||
         std::any_of(keys.begin(), keys.end(), [&](const std::string& k) { return ends_with(name, "." + k); });
}

// Module path ("layers.3.mlp.up_proj.lora_a") -> Hugging Face / mlx-lm name.
std::string hf_name(const std::string& key) {
  return key.compare(0, 7, "lm_head") == 0 ? key : "model." + key;
}

// Copies `tensors` into the model's trainable tensors: each one present with its shape, nothing extra.
void copy_into_trainables(LlamaModel model, const NamedTensors& tensors, const std::string& source) {
  std::map<std::string, at::Tensor> by_name(tensors.begin(), tensors.end());
  at::NoGradGuard no_grad;
  std::set<std::string> expected;
  for (auto& [name, target] : trainable_tensors(model)) {
    expected.insert(name);
    auto it = by_name.find(name);
    if (it == by_name.end()) fail("lora", "'{}' has no tensor '{}' required by the adapter config", source, name);
    if (it->second.sizes() != target.sizes())
      fail("lora", "'{}': tensor '{}' has shape {}; the model expects {}", source, name,
           shape_string(it->second.sizes()), shape_string(target.sizes()));
    target.copy_(it->second);
  }
  for (const auto& [name, t] : tensors)
    if (!expected.count(name)) fail("lora", "'{}' holds '{}', which no adapted layer of this model has", source, name);
}

// The PEFT folder's adapters on exactly the projections it names.
void attach_peft_adapter(LlamaModel model, const std::string& dir) {
  const auto peft = read_peft_adapter(dir);
  std::set<std::string> modules;
  for (const auto& [name, t] : peft.tensors) modules.insert(name.substr(0, name.rfind('.')));
  for (auto& linear : model_linears(model))
    if (modules.erase(linear->name())) linear->attach_adapter(peft.spec, /*seed=*/0);
  if (!modules.empty()) fail("lora", "'{}' adapts '{}', which this model does not have", dir, *modules.begin());
  copy_into_trainables(model, peft.tensors, dir);
}

// A PEFT file given to --resume-adapter-file must have been trained with this run's scale.
void check_peft_scale(LlamaModel model, const std::string& path) {
  const auto dir = std::filesystem::path(path).parent_path().string();
  if (!is_peft_folder(dir) || !std::filesystem::exists(std::filesystem::path(dir) / "adapter_config.json")) return;
  const auto spec = read_peft_adapter(dir).spec;
  for (auto& linear : model_linears(model)) {
    if (!linear->has_adapter()) continue;
    const auto& ours = *linear->adapter();
    if (std::abs(ours.scale - spec.scale) > 1e-9 * std::abs(spec.scale) || ours.dora != spec.dora)
      fail("lora", "'{}' is a PEFT adapter with scale {} (lora_alpha / r){}; this run has scale {}{}: pass "
           "lora_parameters.scale {} (and --fine-tune-type {})", path, spec.scale, spec.dora ? ", DoRA" : "",
           ours.scale, ours.dora ? ", DoRA" : "", spec.scale, spec.dora ? "dora" : "lora");
    return;
  }
}

}  // namespace

bool is_block_projection(const std::string& module) {
  const std::string prefix = "model.layers.";
  if (module.compare(0, prefix.size(), prefix) != 0) return false;
  size_t at = prefix.size(), digits = 0;
  while (at < module.size() && std::isdigit(static_cast<unsigned char>(module[at]))) ++at, ++digits;
  if (digits == 0 || at >= module.size() || module[at] != '.') return false;
  const std::string rest = module.substr(at + 1);
  return std::find(std::begin(kBlockLinears), std::end(kBlockLinears), rest) != std::end(kBlockLinears);
}

std::vector<Linear> model_linears(LlamaModel model) {
  std::vector<Linear> linears;
  for (const auto& module : model->modules(/*include_self=*/false)) {
    if (auto linear = std::dynamic_pointer_cast<LinearImpl>(module)) linears.emplace_back(linear);
  }
  return linears;
}

int64_t apply_fine_tuning(LlamaModel model, const LoraConfig& config, uint64_t seed) {
  const auto& type = config.fine_tune_type;
  if (type != "lora" && type != "dora" && type != "full")
    fail("lora", "unknown fine_tune_type '{}'; supported: lora, dora, full", type);
  for (const auto& key : config.keys) {
    if (std::find(std::begin(kBlockLinears), std::end(kBlockLinears), key) == std::end(kBlockLinears))
      fail("lora", "unknown key '{}' in lora_parameters.keys; supported: {}", key, fmt::join(kBlockLinears, ", "));
  }
  const int64_t layers = model->config().num_hidden_layers;
  int64_t adapted = 0;
  for (auto& linear : model_linears(model)) {
    if (!in_tuned_blocks(linear->name(), config.num_layers, layers) || !matches_keys(linear->name(), config.keys))
      continue;
    if (type == "full") {
      if (linear->is_quantized()) fail("lora", "full fine-tuning needs a dense base; '{}' is quantized", linear->name());
    } else {
      AdapterSpec spec = config.spec;
      spec.dora = type == "dora";
      linear->attach_adapter(spec, seed);
    }
    ++adapted;
  }
  if (type == "full") {
    // Every parameter of the selected blocks trains, norms included, as in mlx-lm.
    for (auto& item : model->named_parameters()) {
      if (in_tuned_blocks(hf_name(item.key()), config.num_layers, layers)) item.value().set_requires_grad(true);
    }
  }
  return adapted;
}

NamedTensors trainable_tensors(LlamaModel model) {
  NamedTensors tensors;
  for (const auto& item : model->named_parameters()) {
    if (item.value().requires_grad()) tensors.emplace_back(hf_name(item.key()), item.value());
  }
  return tensors;
}

void save_adapter_weights(LlamaModel model, const std::string& path) {
  auto tensors = trainable_tensors(model);
  for (auto& [name, t] : tensors) {
    if (!all_finite(t))
      fail("lora", "refusing to save '{}': tensor '{}' holds NaN or infinity", path, name);
    t = t.detach();
  }
  save_safetensors(path, tensors, {{"format", "mlx"}});
}

void load_adapter_weights(LlamaModel model, const std::string& given) {
  // A PEFT folder stands for its weights file.
  const std::string path =
      is_peft_folder(given) ? (std::filesystem::path(given) / "adapter_model.safetensors").string() : given;
  auto store = WeightStore::open_file(path);
  NamedTensors tensors;
  for (const auto& name : store.names()) tensors.emplace_back(name, store.get(name));
  if (has_peft_tensor_names(store.names())) {
    check_peft_scale(model, path);
    tensors = peft_tensors_to_mlx(tensors, path);
  }
  copy_into_trainables(model, tensors, path);
}

nlohmann::ordered_json lora_config_json(const LoraConfig& c) {
  nlohmann::ordered_json j;
  j["fine_tune_type"] = c.fine_tune_type;
  j["num_layers"] = c.num_layers;
  j["lora_parameters"] = {{"rank", c.spec.rank}, {"scale", c.spec.scale}, {"dropout", c.spec.dropout}};
  if (!c.keys.empty()) j["lora_parameters"]["keys"] = c.keys;
  return j;
}

LoraConfig parse_lora_config(const nlohmann::json& j, const std::string& source) {
  LoraConfig c;
  try {
    c.fine_tune_type = j.value("fine_tune_type", std::string("lora"));
    c.num_layers = j.value("num_layers", int64_t{16});
    if (j.contains("lora_parameters") && !j.at("lora_parameters").is_null()) {
      const auto& p = j.at("lora_parameters");
      c.spec.rank = p.value("rank", int64_t{8});
      c.spec.scale = p.value("scale", 20.0);
      c.spec.dropout = p.value("dropout", 0.0);
      if (p.contains("keys") && !p.at("keys").is_null()) c.keys = p.at("keys").get<std::vector<std::string>>();
    }
  } catch (const nlohmann::json::exception& e) {
    fail("lora", "'{}': {}", source, e.what());
  }
  return c;
}

void load_adapters(LlamaModel model, const std::string& adapter_dir) {
  if (is_peft_folder(adapter_dir)) {
    attach_peft_adapter(model, adapter_dir);
  } else {
    const AdapterFolder folder(adapter_dir);
    apply_fine_tuning(model, parse_lora_config(folder.read_config(), folder.config()), /*seed=*/0);
    load_adapter_weights(model, folder.weights());
  }
  for (auto& p : model->parameters()) p.set_requires_grad(false);
}

}  // namespace flotilla::lora
