// Optimizers as MLX defines them (Adam and AdamW with optional bias correction, AdamW's decoupled weight
// decay, SGD with L2 weight decay, momentum, dampening and Nesterov), with their state as named tensors
// so a checkpoint can restore them exactly.
#pragma once
#include <ATen/Tensor.h>

#include <string>
#include <vector>

#include "io/tensor_io.h"

namespace flotilla::train {

struct OptimizerConfig {
  std::string name = "adam";  // adam, adamw, sgd
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  bool bias_correction = false;  // adam, adamw
  double weight_decay = 0.0;     // adamw (decoupled, default 0.01 as MLX) and sgd (added to the gradient)
  double momentum = 0.0, dampening = 0.0;  // sgd
  bool nesterov = false;                   // sgd: needs momentum > 0 and no dampening
};

class Optimizer {
 public:
  // The state's entry that counts the updates made (MLX's state["step"]), which bias correction reads.
  static constexpr char kStepName[] = "step";

  Optimizer(OptimizerConfig config, io::NamedTensors parameters);
  // One update from each parameter's .grad(); the step count goes up by one.
  void step(double learning_rate);
  io::NamedTensors state() const;  // "<param>.m", "<param>.v" or "<param>.momentum", then "step"
  void load_state(const io::NamedTensors& state);

 private:
  void sgd_step(at::Tensor& p, const at::Tensor& grad, at::Tensor& velocity, double lr) const;
  OptimizerConfig config_;
  io::NamedTensors params_;
  std::vector<at::Tensor> first_, second_;
  int64_t steps_ = 0;
};

}  // namespace flotilla::train
