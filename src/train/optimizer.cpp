#include "train/optimizer.h"

#include <ATen/ATen.h>

#include <map>

#include "core/error.h"
#include "core/shape.h"

namespace flotilla {

Optimizer::Optimizer(OptimizerConfig config, NamedTensors parameters)
    : config_(std::move(config)), params_(std::move(parameters)) {
  if (config_.name != "adam" && config_.name != "adamw" && config_.name != "sgd")
    fail("optimizer", "unknown optimizer '{}'; supported: adam, adamw, sgd", config_.name);
  for (const auto& [name, p] : params_) {
    first_.push_back(at::zeros_like(p, at::MemoryFormat::Contiguous));
    second_.push_back(config_.name == "sgd" ? at::Tensor() : at::zeros_like(p, at::MemoryFormat::Contiguous));
  }
}

void Optimizer::step(double lr) {
  at::NoGradGuard no_grad;
  const auto& c = config_;
  for (size_t i = 0; i < params_.size(); ++i) {
    auto& p = params_[i].second;
    if (!p.grad().defined()) continue;
    const auto g = p.grad();
    if (c.name == "sgd") {
      if (c.momentum > 0) {
        first_[i].mul_(c.momentum).add_(g);
        p.add_(first_[i], -lr);
      } else {
        p.add_(g, -lr);
      }
      continue;
    }
    if (c.name == "adamw") p.mul_(1.0 - lr * c.weight_decay);
    first_[i].mul_(c.beta1).add_(g, 1.0 - c.beta1);
    second_[i].mul_(c.beta2).addcmul_(g, g, 1.0 - c.beta2);
    p.addcdiv_(first_[i], second_[i].sqrt().add_(c.eps), -lr);
  }
}

NamedTensors Optimizer::state() const {
  NamedTensors state;
  for (size_t i = 0; i < params_.size(); ++i) {
    state.emplace_back(params_[i].first + (config_.name == "sgd" ? ".momentum" : ".m"), first_[i]);
    if (second_[i].defined()) state.emplace_back(params_[i].first + ".v", second_[i]);
  }
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
}

}  // namespace flotilla
