// Loads a Hugging Face / MLX model folder (config.json + safetensors) into a LlamaModel.
#pragma once
#include <optional>
#include <string>

#include "model/llama.h"

namespace flotilla::model {

struct LoadOptions {
  std::optional<at::ScalarType> dtype;  // compute dtype; default: the model's own (default_compute_dtype)
  at::Device device = at::kCPU;
};

struct LoadedModel {
  std::string dir;
  ModelConfig config;
  at::ScalarType dtype = at::kFloat;  // the compute dtype in use
  LlamaModel model{nullptr};
};

// The model's torch_dtype, as mlx-lm computes: bfloat16 and float32 as they are; float16 runs in
// float32 on the CPU (its CPU kernels are slow), in float16 elsewhere.
at::ScalarType default_compute_dtype(const ModelConfig& config, at::Device device);
// "Compute dtype: bfloat16 (the model's torch_dtype; --dtype changes it)" or "... (--dtype)".
std::string describe_compute_dtype(const LoadOptions& options, at::ScalarType dtype);

LoadedModel load_model(const std::string& dir, const LoadOptions& options = {});

// "float32" | "bfloat16" | "float16" (also "fp32", "bf16", "fp16").
at::ScalarType parse_dtype(const std::string& name);
// "auto" (MPS on Apple Silicon when available, else CPU), "cpu", "cuda", "cuda:1", "mps"; a clear error when
// this libtorch was built without it.
at::Device parse_device(const std::string& name);

}  // namespace flotilla::model
