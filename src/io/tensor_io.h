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

// Writes tensors (any device, contiguous or not) in safetensors format, atomically.
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace flotilla::io
