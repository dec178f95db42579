// Next-token cross-entropy summed over the target tokens that count (mask), with their number,
// so callers can average over a global batch: sum of per-token losses / global token count.
#pragma once
#include <ATen/Tensor.h>

namespace flotilla::train {

struct LossSum {
  at::Tensor sum;      // scalar, float32 or wider, differentiable
  at::Tensor tokens;   // scalar int64: how many targets were counted
};

// logits [B, T, V] predict targets [B, T]; mask [B, T] is 1 where a target counts.
LossSum masked_cross_entropy(const at::Tensor& logits, const at::Tensor& targets, const at::Tensor& mask);

}  // namespace flotilla::train
