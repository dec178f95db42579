// How generation picks each next token: greedy, or temperature softmax filtered by top-k, top-p
// and min-p in mlx-lm's order, from a seeded random stream.
#pragma once
#include <cstdint>

namespace flotilla {

struct SamplingParams {
  float temperature = 0.f;  // 0 = greedy
  int top_k = 0;            // 0 = off
  float top_p = 1.f;        // 1 = off
  float min_p = 0.f;        // 0 = off
  uint64_t seed = 0;
};

}  // namespace flotilla
