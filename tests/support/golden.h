// Reading reference JSON files and comparing tensors against them with a printed max difference.
#pragma once
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "core/file.h"

namespace flotilla::test {

// The whole file as bytes; throws (failing the test) when it cannot be read.
inline std::string read_file(const std::filesystem::path& path) { return flotilla::read_file(path, "test"); }

inline nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  return nlohmann::json::parse(in);
}

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
