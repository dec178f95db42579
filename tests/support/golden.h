// Reading reference JSON files and comparing tensors against them with a printed max difference.
#pragma once
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace flotilla::test {

// The whole file as bytes; a missing file fails the test and reads as "".
inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  EXPECT_TRUE(file) << "cannot open " << path;
  return std::string(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
}

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
