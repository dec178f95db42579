// A LoRA adapter with random non-zero B, written as mlx-lm would, so that fusing it changes the model.
#pragma once
#include <ATen/ATen.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "lora/adapters.h"
#include "model/loader.h"

namespace flotilla::test {

// Adapts every linear of the last num_layers blocks (-1: all) of the model in model_dir.
inline void write_random_adapter(const std::filesystem::path& model_dir, const std::filesystem::path& out_dir,
                                 int64_t num_layers, double b_std = 0.05) {
  auto m = model::load_model(model_dir.string());
  lora::LoraConfig config;
  config.num_layers = num_layers;
  lora::apply_fine_tuning(m.model, config, /*seed=*/11);
  {
    at::NoGradGuard guard;
    at::manual_seed(5);
    for (auto& [n, t] : lora::trainable_tensors(m.model))
      if (n.find("lora_b") != std::string::npos) t.normal_(0, b_std);
  }
  std::filesystem::create_directories(out_dir);
  lora::save_adapter_weights(m.model, (out_dir / "adapters.safetensors").string());
  std::ofstream(out_dir / "adapter_config.json") << lora::lora_config_json(config).dump();
}

}  // namespace flotilla::test
