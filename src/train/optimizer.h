// Optimizers as MLX defines them (Adam without bias correction, AdamW with decoupled weight decay,
// plain SGD), with their state as named tensors so a checkpoint can restore them exactly.
#pragma once
#include <ATen/Tensor.h>

#include <string>
#include <vector>

#include "io/tensor_io.h"

namespace flotilla::train {

struct OptimizerConfig {
  std::string name = "adam";  // adam, adamw, sgd
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weight_decay = 0.0;  // adamw default 0.01 (MLX)
  double momentum = 0.0;      // sgd
};

class Optimizer {
 public:
  Optimizer(OptimizerConfig config, io::NamedTensors parameters);
  void step(double learning_rate);  // uses each parameter's .grad()
  io::NamedTensors state() const;       // "<param>.m", "<param>.v" or "<param>.momentum"
  void load_state(const io::NamedTensors& state);

 private:
  OptimizerConfig config_;
  io::NamedTensors params_;
  std::vector<at::Tensor> first_, second_;
};

}  // namespace flotilla::train
