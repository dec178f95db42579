#include "model/loader.h"

#include <ATen/ATen.h>
#include <ATen/Context.h>

#include <filesystem>

#include "core/error.h"
#include "io/weight_store.h"

using namespace flotilla::io;

namespace flotilla::model {

LoadedModel load_model(const std::string& dir, const LoadOptions& options) {
  const auto config_path = std::filesystem::path(dir) / "config.json";
  if (!std::filesystem::exists(config_path)) fail("model", "'{}' has no config.json; is it a model folder?", dir);
  LoadedModel loaded;
  loaded.dir = dir;
  loaded.config = load_model_config(config_path.string());
  loaded.dtype = options.dtype.value_or(default_compute_dtype(loaded.config, options.device));
  auto store = WeightStore::open_dir(dir);
  WeightReader reader(store, loaded.config, loaded.dtype, options.device);
  loaded.model = LlamaModel(loaded.config, reader, loaded.dtype);
  reader.check_all_used();
  loaded.model->eval();
  return loaded;
}

at::ScalarType default_compute_dtype(const ModelConfig& config, at::Device device) {
  if (config.torch_dtype == "bfloat16") return at::kBFloat16;
  if (config.torch_dtype == "float16") return device.is_cpu() ? at::kFloat : at::kHalf;
  return at::kFloat;
}

std::string describe_compute_dtype(const LoadOptions& options, at::ScalarType dtype) {
  const char* name = dtype == at::kBFloat16 ? "bfloat16" : dtype == at::kHalf ? "float16" : dtype == at::kDouble ? "float64" : "float32";
  return fmt::format("Compute dtype: {} ({})", name,
                     options.dtype ? "--dtype" : "the model's torch_dtype; --dtype float32 or bfloat16 changes it");
}

at::ScalarType parse_dtype(const std::string& name) {
  if (name == "float32" || name == "fp32") return at::kFloat;
  if (name == "bfloat16" || name == "bf16") return at::kBFloat16;
  if (name == "float16" || name == "fp16") return at::kHalf;
  if (name == "float64" || name == "fp64") return at::kDouble;  // for exactness checks
  fail("model", "unknown dtype '{}'; supported: float32, bfloat16, float16, float64", name);
}

at::Device parse_device(const std::string& name) {
  if (name == "auto") {  // the tutorial's Macs: MPS on Apple Silicon when this libtorch has it, else the CPU
#if defined(__APPLE__) && defined(__aarch64__)
    if (at::hasMPS()) return at::Device(at::kMPS);
#endif
    return at::Device(at::kCPU);
  }
  at::Device device(at::kCPU);
  try {
    device = at::Device(name);
  } catch (const std::exception&) {
    fail("device", "unknown device '{}'; expected auto, cpu, cuda, cuda:N or mps", name);
  }
  if (device.is_cuda() && !at::hasCUDA()) fail("device", "'{}' requested but this libtorch has no CUDA support", name);
  if (device.is_mps() && !at::hasMPS()) fail("device", "'{}' requested but this libtorch has no MPS support", name);
  return device;
}

}  // namespace flotilla::model
