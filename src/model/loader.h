// Loads a Hugging Face / MLX model folder (config.json + safetensors) into a LlamaModel.
#pragma once
#include <string>

#include "model/llama.h"

namespace flotilla {

struct LoadOptions {
  at::ScalarType dtype = at::kFloat;  // compute dtype: float32 or bfloat16
  at::Device device = at::kCPU;
};

struct LoadedModel {
  std::string dir;
  ModelConfig config;
  LlamaModel model{nullptr};
};

LoadedModel load_model(const std::string& dir, const LoadOptions& options = {});

// "float32" | "bfloat16" | "float16" (also "fp32", "bf16", "fp16").
at::ScalarType parse_dtype(const std::string& name);
// "cpu", "cuda", "cuda:1", "mps"; a clear error when this libtorch was built without it.
at::Device parse_device(const std::string& name);

}  // namespace flotilla
