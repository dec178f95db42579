// mlx_lm.convert: a dense Hugging Face folder (safetensors, sharded or not) -> an MLX folder, cast to
// a dtype and optionally quantized by MLX's affine rule.
#pragma once
#include <cstdint>
#include <string>

#include "io/model_folder_writer.h"

namespace flotilla::convert {

struct HfConvertOptions {
  std::string hf_path, mlx_path = "mlx_model";
  bool quantize = false;
  int bits = 4, group_size = 64;
  std::string dtype;  // float16, bfloat16 or float32; empty: the config's torch_dtype
  int64_t max_shard_bytes = io::kMlxShardBytes;
};

// Returns a one-line summary (tensors written, how many quantized).
std::string convert_hf_to_mlx(const HfConvertOptions& options);

}  // namespace flotilla::convert
