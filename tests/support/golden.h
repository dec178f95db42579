// Comparing tensors against reference values with a printed max difference.
#pragma once
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>

#include "support/fixture_files.h"

namespace flotilla::test {

// Max |actual - expected| over all elements, printed with the tolerance it is held to.
inline double expect_close(const at::Tensor& actual, const at::Tensor& expected, double tolerance,
                           const std::string& what) {
  EXPECT_EQ(actual.sizes(), expected.sizes()) << what;
  double diff = (actual.to(at::kDouble) - expected.to(at::kDouble)).abs().max().item<double>();
  std::cout << "[golden] " << what << ": max |diff| = " << diff << " (tolerance " << tolerance << ")\n";
  EXPECT_LE(diff, tolerance) << what;
  return diff;
}

}  // namespace flotilla::test
