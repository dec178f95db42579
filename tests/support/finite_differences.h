// Gradients by central differences in float64 against autograd's, for a few entries of each tensor.
#pragma once
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <iostream>
#include <string>

#include "io/tensor_io.h"

namespace flotilla::test {

// Runs loss() and backward once, then perturbs the first, middle and last entry of every tensor of
// `params` that `check` accepts by ±1e-6, expecting each relative error below `tolerance`; prints and
// returns how many entries were checked.
inline int expect_gradients_match_finite_differences(const io::NamedTensors& params, const std::function<at::Tensor()>& loss,
                                                     const std::function<bool(const std::string&)>& check,
                                                     double tolerance, const std::string& label) {
  for (const auto& [name, p] : params) p.mutable_grad() = at::Tensor();
  loss().backward();
  double worst = 0;
  int checked = 0;
  for (const auto& [name, param] : params) {
    if (!check(name)) continue;
    auto flat = param.detach().view({-1});
    auto grad = param.grad().view({-1});
    for (int64_t i : {int64_t{0}, flat.numel() / 2, flat.numel() - 1}) {
      const double eps = 1e-6, saved = flat[i].item<double>();
      at::NoGradGuard guard;
      flat[i] = saved + eps;
      const double up = loss().item<double>();
      flat[i] = saved - eps;
      const double down = loss().item<double>();
      flat[i] = saved;
      const double numeric = (up - down) / (2 * eps), analytic = grad[i].item<double>();
      const double error = std::abs(numeric - analytic) / std::max(1e-4, std::abs(numeric));
      worst = std::max(worst, error);
      ++checked;
      EXPECT_LT(error, tolerance) << label << ": " << name << "[" << i << "] numeric " << numeric << " analytic " << analytic;
    }
  }
  std::cout << "[grad] " << label << ": " << checked << " entries, worst relative error " << worst << " (tolerance "
            << tolerance << ")\n";
  return checked;
}

}  // namespace flotilla::test
