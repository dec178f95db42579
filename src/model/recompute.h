// Activation checkpointing: a block keeps only its input after the forward pass and runs again
// in backward to rebuild its intermediate tensors, trading one extra forward for memory.
#pragma once
#include <ATen/Tensor.h>

#include <functional>

namespace flotilla::model {

using TensorFunction = std::function<at::Tensor(const at::Tensor&)>;

// fn(x), with fn's activations recomputed in backward when gradients are recorded. The replay
// restores the random-number state of the first call, so dropout draws the same masks.
// Gradients of fn's own parameters accumulate into their .grad as in a plain backward.
at::Tensor recompute_in_backward(TensorFunction fn, const at::Tensor& x);

}  // namespace flotilla::model
