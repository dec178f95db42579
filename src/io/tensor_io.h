// Bridge between safetensors files and ATen tensors: zero-copy loads and atomic saves.
#pragma once
#include <ATen/Tensor.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "io/safetensors.h"

namespace flotilla::io {

// A tensor over the mapped bytes when the data is aligned for its dtype, else a copy.
// U32 has no ATen dtype in libtorch 1.13: it loads as Int32 with the same bits.
at::Tensor load_tensor(const SafetensorsFile& file, const TensorInfo& info);

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

// int32 tensors are I32, or U32 (the same bits) for MLX's packed weights, the dtype MLX reads them as.
enum class Int32Storage { i32, packed_u32 };

// Writes tensors (any device, contiguous or not) in safetensors format, atomically.
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {}, Int32Storage int32_storage = Int32Storage::i32);

}  // namespace flotilla::io
