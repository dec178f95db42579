// LoRA/DoRA adapters on a loaded model, and their files in mlx-lm's layout:
// adapters.safetensors ("model.layers.N.self_attn.q_proj.lora_a" [in, r], ".lora_b" [r, out], ".m")
// and adapter_config.json (fine_tune_type, num_layers, lora_parameters {rank, scale, dropout, keys}).
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "io/tensor_io.h"
#include "model/llama.h"

namespace flotilla::lora {

struct LoraConfig {
  std::string fine_tune_type = "lora";  // lora, dora or full
  int64_t num_layers = 16;              // the last N blocks; -1 means all
  model::AdapterSpec spec;
  std::vector<std::string> keys;  // e.g. "self_attn.q_proj"; empty means every linear of a block
};

// "model.layers.N.self_attn.q_proj" and the block's other six projections: what adapters may adapt.
bool is_block_projection(const std::string& module);

// Every Linear of the model (embedding and tied head once), in module order.
std::vector<model::Linear> model_linears(model::LlamaModel model);

// Attaches adapters (lora/dora) or unfreezes the dense weights of the selected blocks (full).
// Returns how many projections were adapted. Factors are drawn from `seed`.
int64_t apply_fine_tuning(model::LlamaModel model, const LoraConfig& config, uint64_t seed);

// The tensors that fine-tuning changes, by Hugging Face / mlx-lm name.
io::NamedTensors trainable_tensors(model::LlamaModel model);
void save_adapter_weights(model::LlamaModel model, const std::string& path);
// Copies tensors from an adapters file (mlx-lm's names, or PEFT's); every trainable tensor must be
// present with its shape.
void load_adapter_weights(model::LlamaModel model, const std::string& path);

nlohmann::ordered_json lora_config_json(const LoraConfig& config);
LoraConfig parse_lora_config(const nlohmann::json& json, const std::string& source);

// Reads <dir>/adapter_config.json, attaches matching adapters and loads <dir>/adapters.safetensors;
// a PEFT folder (adapter_model.safetensors) adapts exactly the projections its file names.
void load_adapters(model::LlamaModel model, const std::string& adapter_dir);

}  // namespace flotilla::lora
