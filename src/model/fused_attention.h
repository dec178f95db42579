// Causal grouped-query attention through model/attention_kernel, differentiable, for CPU tensors
// in float32, bfloat16 (computed in float32) and float64. Saves O(T·D) for backward, not T×S.
#pragma once
#include <ATen/Tensor.h>

namespace flotilla::model {

// Whether fused_causal_attention takes tensors of this dtype on this device.
bool fused_attention_supports(at::ScalarType dtype, at::Device device);

// softmax(scale·q·kᵀ + causal mask)·v for q [B, H, T, D] and k, v [B, KV, S, D] (H a multiple of KV;
// query head h reads key/value head h / (H/KV)); query t sits at position S - T + t and, with a
// window W > 0, sees only the last W keys up to it. Scale 0 means 1/√D. Returns [B, T, H, D] in q's dtype.
at::Tensor fused_causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int64_t window = 0,
                                  double scale = 0);

}  // namespace flotilla::model
