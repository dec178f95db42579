#include "train/optimizer.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <map>

#include "core/error.h"
#include "tensor/shape.h"

using namespace flotilla::tensor;
using namespace flotilla::io;

namespace flotilla::train {

namespace {

struct AdamCoefficients {
  float lr, beta1, beta2, eps, decay;  // decay multiplies the parameter first: 1 - lr·weight_decay (AdamW)
};

bool fusable(const at::Tensor& p, const at::Tensor& g) {
  auto plain = [&](const at::Tensor& t) {
    return t.device().is_cpu() && t.scalar_type() == at::kFloat && t.is_contiguous() && t.numel() == p.numel();
  };
  return plain(p) && plain(g);
}

// One pass over a float32 parameter, its gradient and both moments (the unfused path takes six).
// Compiled with -fno-math-errno, so the square root vectorises.
void fused_adam(at::Tensor& p, at::Tensor& m, at::Tensor& v, const at::Tensor& g, const AdamCoefficients& c) {
  float* param = p.data_ptr<float>();
  float* first = m.data_ptr<float>();
  float* second = v.data_ptr<float>();
  const float* grad = g.data_ptr<float>();
  at::parallel_for(0, p.numel(), 1 << 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float gi = grad[i];
      const float mi = c.beta1 * first[i] + (1 - c.beta1) * gi;
      const float vi = c.beta2 * second[i] + (1 - c.beta2) * gi * gi;
      first[i] = mi;
      second[i] = vi;
      param[i] = param[i] * c.decay - c.lr * mi / (std::sqrt(vi) + c.eps);
    }
  });
}

}  // namespace

Optimizer::Optimizer(OptimizerConfig config, NamedTensors parameters)
    : config_(std::move(config)), params_(std::move(parameters)) {
  if (config_.name != "adam" && config_.name != "adamw" && config_.name != "sgd")
    fail("optimizer", "unknown optimizer '{}'; supported: adam, adamw, sgd", config_.name);
  if (config_.nesterov && (config_.momentum <= 0 || config_.dampening != 0))
    fail("optimizer", "nesterov needs momentum > 0 and dampening 0 (MLX's SGD), got momentum {} and dampening {}",
         config_.momentum, config_.dampening);
  for (const auto& [name, p] : params_) {
    first_.push_back(at::zeros_like(p, at::MemoryFormat::Contiguous));
    second_.push_back(config_.name == "sgd" ? at::Tensor() : at::zeros_like(p, at::MemoryFormat::Contiguous));
  }
}

void Optimizer::step(double lr) {
  at::NoGradGuard no_grad;
  const auto& c = config_;
  const int64_t update = ++steps_;
  // MLX's bias correction, lr / (1 - b1^t) · m / (sqrt(v) / sqrt(1 - b2^t) + eps), as a plain Adam
  // step with a scaled rate and epsilon.
  double rate = lr, eps = c.eps;
  if (c.bias_correction) {
    const double first = 1 - std::pow(c.beta1, update), second = std::sqrt(1 - std::pow(c.beta2, update));
    rate = lr * second / first;
    eps = c.eps * second;
  }
  for (size_t i = 0; i < params_.size(); ++i) {
    auto& p = params_[i].second;
    if (!p.grad().defined()) continue;
    if (c.name == "sgd") {
      sgd_step(p, p.grad(), first_[i], lr);
      continue;
    }
    const auto g = p.grad();
    const double decay = c.name == "adamw" ? 1.0 - lr * c.weight_decay : 1.0;
    if (fusable(p, g)) {
      fused_adam(p, first_[i], second_[i], g, {float(rate), float(c.beta1), float(c.beta2), float(eps), float(decay)});
      continue;
    }
    if (decay != 1.0) p.mul_(decay);
    first_[i].mul_(c.beta1).add_(g, 1.0 - c.beta1);
    second_[i].mul_(c.beta2).addcmul_(g, g, 1.0 - c.beta2);
    p.addcdiv_(first_[i], second_[i].sqrt().add_(eps), -rate);
  }
}

// MLX's SGD: weight decay joins the gradient; the velocity takes (1 - dampening) of it; Nesterov
// steps along gradient + momentum · velocity.
void Optimizer::sgd_step(at::Tensor& p, const at::Tensor& grad, at::Tensor& velocity, double lr) const {
  const auto& c = config_;
  const at::Tensor g = c.weight_decay != 0 ? grad + c.weight_decay * p : grad;
  if (c.momentum <= 0) {
    p.add_(g, -lr);
    return;
  }
  velocity.mul_(c.momentum).add_(g, c.dampening > 0 ? 1 - c.dampening : 1.0);
  p.add_(c.nesterov ? g + c.momentum * velocity : velocity, -lr);
}

NamedTensors Optimizer::state() const {
  NamedTensors state;
  for (size_t i = 0; i < params_.size(); ++i) {
    state.emplace_back(params_[i].first + (config_.name == "sgd" ? ".momentum" : ".m"), first_[i]);
    if (second_[i].defined()) state.emplace_back(params_[i].first + ".v", second_[i]);
  }
  state.emplace_back(kStepName, at::scalar_tensor(steps_, at::kLong));
  return state;
}

void Optimizer::load_state(const NamedTensors& state) {
  std::map<std::string, at::Tensor> by_name(state.begin(), state.end());
  at::NoGradGuard no_grad;
  auto restore = [&](const std::string& name, at::Tensor& into) {
    auto it = by_name.find(name);
    if (it == by_name.end()) fail("optimizer", "training state has no '{}'", name);
    if (it->second.sizes() != into.sizes())
      fail("optimizer", "training state '{}' has shape {}; expected {}", name, shape_string(it->second.sizes()),
           shape_string(into.sizes()));
    into.copy_(it->second);
  };
  for (size_t i = 0; i < params_.size(); ++i) {
    restore(params_[i].first + (config_.name == "sgd" ? ".momentum" : ".m"), first_[i]);
    if (second_[i].defined()) restore(params_[i].first + ".v", second_[i]);
  }
  auto steps = at::scalar_tensor(0, at::kLong);
  restore(kStepName, steps);
  steps_ = steps.item<int64_t>();
}

}  // namespace flotilla::train
