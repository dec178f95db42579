// Rotary position embeddings in the Hugging Face half-rotation layout, with linear, llama3 and
// longrope (Phi-3) scaling, over the whole head or its leading rotary_dim values.
#pragma once
#include <ATen/Tensor.h>

#include <utility>

#include "model/config.h"

namespace flotilla::model {

// Inverse frequencies [R/2] for the R rotated dims, float64 math (llama3: Meta's smooth frequency
// interpolation; longrope: the long factors when long_context, else the short ones).
at::Tensor rope_inverse_frequencies(const ModelConfig& config, bool long_context = false);

// cos/sin rows per position, grown on demand so long-context configs cost only what is used.
class RotaryTable {
 public:
  explicit RotaryTable(const ModelConfig& config);
  // positions: int64 [B, T] whose largest value is max_position; returns cos and sin as
  // [B, 1, T, R] in `dtype` on positions' device. Longrope switches to its long factors once
  // max_position passes the original context, as Hugging Face's Phi-3 does per forward pass.
  std::pair<at::Tensor, at::Tensor> lookup(const at::Tensor& positions, int64_t max_position, at::ScalarType dtype);

 private:
  struct Rows {
    at::Tensor inverse_frequencies;
    at::Tensor cos, sin;  // float32 [length, R]
  };
  void grow(Rows& rows, int64_t length, at::Device device) const;
  Rows short_, long_;  // long_ only for longrope
  int64_t original_context_ = 0;
  double attention_factor_ = 1.0;
};

// x: [B, H, T, D]; cos/sin from RotaryTable::lookup, rotating x's first R dims.
at::Tensor apply_rotary(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

}  // namespace flotilla::model
