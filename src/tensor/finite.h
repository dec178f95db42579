// Whether a tensor holds only finite values (no NaN, no ±infinity).
#pragma once
#include <ATen/Tensor.h>

namespace flotilla::tensor {

// Contiguous float32 on the CPU is read as exponent bits in one pass without allocating;
// anything else goes through at::isfinite.
bool all_finite(const at::Tensor& t);

}  // namespace flotilla::tensor
