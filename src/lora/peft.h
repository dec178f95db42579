// Hugging Face PEFT's LoRA/DoRA adapter folders (adapter_model.safetensors + adapter_config.json),
// read into and written from mlx-lm's layout: "base_model.model.<module>.lora_A.weight" [r, in] is
// lora_a [in, r] transposed, "lora_B.weight" [out, r] is lora_b [r, out] transposed,
// "lora_magnitude_vector" is DoRA's m, and the scale is lora_alpha / r (lora_alpha / √r, use_rslora).
#pragma once
#include <string>

#include "io/tensor_io.h"
#include "model/linear.h"

namespace flotilla::lora {

struct PeftAdapter {
  model::AdapterSpec spec;  // rank, scale, dropout, dora
  // mlx-lm names: "model.layers.N.self_attn.q_proj.lora_a", ".lora_b", ".m"; only the adapted projections.
  io::NamedTensors tensors;
};

// A folder holding adapter_model.safetensors.
bool is_peft_folder(const std::string& dir);

// Reads the folder; what PEFT can say and Flotilla cannot represent (rank_pattern, alpha_pattern,
// modules_to_save, bias other than "none", fan_in_fan_out, lora_bias, targets outside the block
// projections, other peft_types) is an error naming it.
PeftAdapter read_peft_adapter(const std::string& dir);

// PEFT tensor names and shapes converted to mlx-lm's; `source` names the file in errors.
io::NamedTensors peft_tensors_to_mlx(const io::NamedTensors& peft, const std::string& source);
bool has_peft_tensor_names(const std::vector<std::string>& names);

// Writes a PEFT folder for mlx-lm-named adapter tensors with one spec; base_model goes to
// base_model_name_or_path. The files are written atomically; dir is created.
void write_peft_adapter(const std::string& dir, const model::AdapterSpec& spec, const io::NamedTensors& mlx_tensors,
                        const std::string& base_model);

// An mlx-lm / Flotilla adapter folder (lora or dora) as a PEFT folder in out_dir; base_model empty:
// the "model" its adapter_config.json names. Returns the number of adapted projections.
int64_t export_peft_adapter(const std::string& adapter_dir, const std::string& out_dir, std::string base_model);

}  // namespace flotilla::lora
