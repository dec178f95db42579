#include "train/loss.h"

#include <ATen/ATen.h>

namespace flotilla::train {

LossSum masked_cross_entropy(const at::Tensor& logits, const at::Tensor& targets, const at::Tensor& mask) {
  const int64_t V = logits.size(-1);
  auto wide = logits.reshape({-1, V}).to(at::promote_types(logits.scalar_type(), at::kFloat));
  auto log_probs = at::log_softmax(wide, -1);
  auto picked = log_probs.gather(1, targets.reshape({-1, 1})).squeeze(1);
  auto weights = mask.reshape({-1}).to(picked.scalar_type());
  return {-(picked * weights).sum(), mask.to(at::kLong).sum()};
}

}  // namespace flotilla::train
