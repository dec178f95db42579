#include "lora/peft.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/text.h"
#include "lora/adapter_folder.h"
#include "lora/adapters.h"
#include "tensor/shape.h"
#include "io/weight_store.h"

using namespace flotilla::io;
using namespace flotilla::model;
using namespace flotilla::tensor;

namespace flotilla::lora {

namespace {

namespace fs = std::filesystem;

const std::string kPrefix = "base_model.model.";
const std::string kWeights = "adapter_model.safetensors", kConfig = "adapter_config.json";

// PEFT's factor suffixes and the mlx-lm names they become.
struct Factor {
  const char* peft;
  const char* mlx;
  bool transposed;
};
const Factor kFactors[] = {{".lora_A.weight", "lora_a", true},
                           {".lora_B.weight", "lora_b", true},
                           {".lora_magnitude_vector.weight", "m", false},
                           {".lora_magnitude_vector", "m", false}};

nlohmann::json read_json(const std::string& path) {
  std::ifstream file(path);
  if (!file) fail("peft", "cannot read '{}'", path);
  try {
    return nlohmann::json::parse(file);
  } catch (const nlohmann::json::exception& e) {
    fail("peft", "'{}': invalid JSON: {}", path, e.what());
  }
}

bool is_unset(const nlohmann::json& config, const char* key) {
  if (!config.contains(key)) return true;
  const auto& v = config.at(key);
  return v.is_null() || (v.is_boolean() && !v.get<bool>()) || ((v.is_object() || v.is_array()) && v.empty());
}

// The settings a Flotilla adapter cannot express; each refused by name.
void refuse_unsupported(const nlohmann::json& c, const std::string& path) {
  const std::string type = c.value("peft_type", std::string());
  if (type != "LORA") fail("peft", "'{}': peft_type is '{}'; Flotilla reads LoRA adapters (\"LORA\") only", path, type);
  const char* const unsupported[] = {"rank_pattern", "alpha_pattern", "modules_to_save", "fan_in_fan_out",
                                     "lora_bias", "layer_replication", "target_parameters"};
  for (const char* key : unsupported)
    if (!is_unset(c, key))
      fail("peft", "'{}': '{}' is set ({}); Flotilla adapters have one rank and scale for every adapted projection "
           "and no other trained tensors, so it cannot represent this adapter", path, key, c.at(key).dump());
  const std::string bias = c.contains("bias") && c.at("bias").is_string() ? c.at("bias").get<std::string>() : "none";
  if (bias != "none") fail("peft", "'{}': bias is '{}'; Flotilla adapters train no biases (expected \"none\")", path, bias);
}

}  // namespace

bool is_peft_folder(const std::string& dir) { return fs::is_regular_file(fs::path(dir) / kWeights); }

bool has_peft_tensor_names(const std::vector<std::string>& names) {
  return std::any_of(names.begin(), names.end(), [](const std::string& n) { return ends_with(n, ".lora_A.weight"); });
}

NamedTensors peft_tensors_to_mlx(const NamedTensors& peft, const std::string& source) {
  NamedTensors out;
  for (const auto& [name, tensor] : peft) {
    if (name.compare(0, kPrefix.size(), kPrefix) != 0)
      fail("peft", "'{}': tensor '{}' does not start with '{}' as PEFT's names do", source, name, kPrefix);
    const Factor* factor = nullptr;
    for (const auto& f : kFactors)
      if (!factor && ends_with(name, f.peft)) factor = &f;
    if (!factor)
      fail("peft", "'{}': tensor '{}' is not a LoRA factor (lora_A, lora_B, lora_magnitude_vector); Flotilla cannot "
           "represent it", source, name);
    const std::string module = name.substr(kPrefix.size(), name.size() - kPrefix.size() - std::strlen(factor->peft));
    if (!is_block_projection(module))
      fail("peft", "'{}': '{}' adapts '{}'; Flotilla adapts only the block projections (self_attn.q/k/v/o_proj, "
           "mlp.gate/up/down_proj)", source, name, module);
    if (factor->transposed && tensor.dim() != 2)
      fail("peft", "'{}': tensor '{}' has shape {}; expected a matrix", source, name, shape_string(tensor.sizes()));
    out.emplace_back(module + "." + factor->mlx, factor->transposed ? tensor.t().contiguous() : tensor);
  }
  return out;
}

PeftAdapter read_peft_adapter(const std::string& dir) {
  const std::string config_path = (fs::path(dir) / kConfig).string();
  const auto c = read_json(config_path);
  refuse_unsupported(c, config_path);
  PeftAdapter adapter;
  try {
    adapter.spec.rank = c.at("r").get<int64_t>();
    const double alpha = c.value("lora_alpha", 8.0);
    if (adapter.spec.rank < 1) fail("peft", "'{}': r is {}; expected a positive rank", config_path, adapter.spec.rank);
    adapter.spec.scale = c.value("use_rslora", false) ? alpha / std::sqrt(static_cast<double>(adapter.spec.rank))
                                                      : alpha / static_cast<double>(adapter.spec.rank);
    adapter.spec.dropout = c.value("lora_dropout", 0.0);
    adapter.spec.dora = c.value("use_dora", false);
  } catch (const nlohmann::json::exception& e) {
    fail("peft", "'{}': {} (expected r, lora_alpha, lora_dropout as numbers)", config_path, e.what());
  }
  const std::string weights_path = (fs::path(dir) / kWeights).string();
  auto store = WeightStore::open_file(weights_path);
  NamedTensors peft;
  for (const auto& name : store.names()) peft.emplace_back(name, store.get(name));
  adapter.tensors = peft_tensors_to_mlx(peft, weights_path);
  std::map<std::string, std::set<std::string>> parts;  // module -> lora_a, lora_b, m
  for (const auto& [name, t] : adapter.tensors) {
    const auto dot = name.rfind('.');
    parts[name.substr(0, dot)].insert(name.substr(dot + 1));
    if (name.substr(dot + 1) == "lora_a" && t.size(1) != adapter.spec.rank)
      fail("peft", "'{}': '{}' has rank {}; adapter_config.json says r = {}", weights_path, name, t.size(1),
           adapter.spec.rank);
  }
  if (parts.empty()) fail("peft", "'{}' holds no LoRA tensors", weights_path);
  for (const auto& [module, have] : parts) {
    if (!have.count("lora_a") || !have.count("lora_b"))
      fail("peft", "'{}': '{}' lacks its lora_A or lora_B weight", weights_path, module);
    if (have.count("m") != static_cast<size_t>(adapter.spec.dora))
      fail("peft", "'{}': '{}' {} a DoRA magnitude but use_dora is {} in '{}'", weights_path, module,
           have.count("m") ? "has" : "lacks", adapter.spec.dora, config_path);
  }
  return adapter;
}

void write_peft_adapter(const std::string& dir, const AdapterSpec& spec, const NamedTensors& mlx_tensors,
                        const std::string& base_model) {
  NamedTensors peft;
  std::set<std::string> targets;
  std::set<int64_t> layers;
  for (const auto& [name, t] : mlx_tensors) {
    const auto dot = name.rfind('.');
    const std::string module = name.substr(0, dot == std::string::npos ? 0 : dot), part = name.substr(dot + 1);
    const char* suffix = part == "lora_a" ? ".lora_A.weight" : part == "lora_b" ? ".lora_B.weight"
                       : part == "m"      ? ".lora_magnitude_vector" : nullptr;
    if (!suffix || !is_block_projection(module))
      fail("peft", "'{}' is not a LoRA factor of a block projection; PEFT LoRA adapters hold only those (a full "
           "fine-tune goes out through `flotilla fuse`)", name);
    if (t.dim() > 2)  // mlx-lm's LoRASwitchLinear factors: PEFT adapts each expert's own Linear instead
      fail("peft", "'{}' adapts stacked experts, which PEFT has no form for; train with lora_parameters.keys leaving "
           "out mlp.switch_mlp.*, or keep mlx-lm's format (`flotilla fuse` takes it)", name);
    peft.emplace_back(kPrefix + module + suffix, part == "m" ? t : t.t().contiguous());
    targets.insert(module.substr(module.rfind('.') + 1));
    layers.insert(std::stoll(module.substr(std::string("model.layers.").size())));
  }
  if (peft.empty()) fail("peft", "no adapter tensors to write to '{}'", dir);
  nlohmann::ordered_json c;
  c["peft_type"] = "LORA";
  c["task_type"] = "CAUSAL_LM";
  c["base_model_name_or_path"] = base_model;
  c["r"] = spec.rank;
  c["lora_alpha"] = spec.scale * static_cast<double>(spec.rank);  // PEFT's scale is lora_alpha / r
  c["lora_dropout"] = spec.dropout;
  c["target_modules"] = std::vector<std::string>(targets.begin(), targets.end());
  c["layers_to_transform"] = std::vector<int64_t>(layers.begin(), layers.end());
  c["use_dora"] = spec.dora;
  c["use_rslora"] = false;
  c["bias"] = "none";
  c["fan_in_fan_out"] = false;
  c["modules_to_save"] = nullptr;
  c["inference_mode"] = true;
  fs::create_directories(dir);
  save_safetensors((fs::path(dir) / kWeights).string(), peft, {{"format", "pt"}});
  write_text_atomically((fs::path(dir) / kConfig).string(), c.dump(2));
}

int64_t export_peft_adapter(const std::string& adapter_dir, const std::string& out_dir, std::string base_model) {
  const AdapterFolder folder(adapter_dir);
  const auto json = folder.read_config();
  const auto config = parse_lora_config(json, folder.config());
  if (config.fine_tune_type == "full")
    fail("peft", "'{}' is a full fine-tune; PEFT LoRA adapters cannot hold it: use `flotilla fuse` for a model folder",
         adapter_dir);
  AdapterSpec spec = config.spec;
  spec.dora = config.fine_tune_type == "dora";
  if (base_model.empty() && json.contains("model") && json.at("model").is_string()) base_model = json.at("model");
  auto store = WeightStore::open_file(folder.weights());
  NamedTensors tensors;
  for (const auto& name : store.names()) tensors.emplace_back(name, store.get(name));
  write_peft_adapter(out_dir, spec, tensors, base_model);
  return std::count_if(tensors.begin(), tensors.end(),
                       [](const std::pair<std::string, at::Tensor>& t) { return ends_with(t.first, ".lora_a"); });
}

}  // namespace flotilla::lora
