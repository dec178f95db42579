// Seeded normal samples for the kernel tests (plain C++, as those tests are built for ARM64 too).
#pragma once
#include <cstdint>
#include <random>
#include <vector>

namespace flotilla::test {

template <typename T>
std::vector<T> random_normals(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<T> normal;
  std::vector<T> v(static_cast<size_t>(n));
  for (auto& x : v) x = normal(rng);
  return v;
}

}  // namespace flotilla::test
