// MLX affine quantization: w = q * scale + bias per group of `group_size` inputs,
// q packed LSB-first into uint32 words (stored as int32, the same bits).
#pragma once
#include <ATen/Tensor.h>

#include "model/config.h"

namespace flotilla::model {

struct QuantizedWeight {
  at::Tensor packed;  // int32 [out, in * bits / 32]
  at::Tensor scales;  // [out, in / group_size]
  at::Tensor biases;  // [out, in / group_size]
  QuantSpec spec;
  int64_t in_features() const;
};

// Dequantizes all rows (or the given rows of `rows`, int64 ids) into `dtype`, math in float32.
at::Tensor mlx_dequantize(const QuantizedWeight& w, at::ScalarType dtype);
at::Tensor mlx_dequantize_rows(const QuantizedWeight& w, const at::Tensor& rows, at::ScalarType dtype);

// MLX's affine quantization (mx.quantize) of a dense [out, in] weight; scales and biases in `scale_dtype`.
QuantizedWeight mlx_quantize(const at::Tensor& weight, QuantSpec spec, at::ScalarType scale_dtype);

// Checks packed/scales/biases shapes against [out, in]; `name` is used in the error.
void check_quantized_shapes(const QuantizedWeight& w, int64_t out, int64_t in, const std::string& name);

}  // namespace flotilla::model
