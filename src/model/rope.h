// Rotary position embeddings in the Hugging Face half-rotation layout, with linear and llama3 scaling.
#pragma once
#include <ATen/Tensor.h>

#include <utility>

#include "model/config.h"

namespace flotilla::model {

// Inverse frequencies [D/2], float64 math (llama3: Meta's smooth frequency interpolation).
at::Tensor rope_inverse_frequencies(const ModelConfig& config);

// cos/sin rows per position, grown on demand so long-context configs cost only what is used.
class RotaryTable {
 public:
  explicit RotaryTable(const ModelConfig& config);
  // positions: int64 [B, T] whose largest value is max_position; returns cos and sin as
  // [B, 1, T, D] in `dtype` on positions' device.
  std::pair<at::Tensor, at::Tensor> lookup(const at::Tensor& positions, int64_t max_position, at::ScalarType dtype);

 private:
  void grow(int64_t length, at::Device device);
  at::Tensor inverse_frequencies_;
  at::Tensor cos_, sin_;  // float32 [length, D]
};

// x: [B, H, T, D]; cos/sin from RotaryTable::lookup.
at::Tensor apply_rotary(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

}  // namespace flotilla::model
