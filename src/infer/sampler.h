// Next-token sampling: greedy, or temperature softmax filtered by top-k, top-p and min-p (mlx-lm's order).
// Pure C++ with its own RNG stream, so a seed gives the same tokens on every platform.
#pragma once
#include <cstdint>
#include <random>
#include <vector>

#include "flotilla/sampling.h"

namespace flotilla::infer {

// A token and its weight, as the top-k/top-p selections shuffle them (Sampler's scratch space).
struct SamplerCandidate {
  double weight;
  int64_t id;
};

class Sampler {
 public:
  explicit Sampler(SamplingParams params);  // throws Error("[sampler] ...") on out-of-range params

  // One token id from logits[0..vocab); advances the internal RNG unless greedy.
  int64_t sample(const float* logits, int64_t vocab);
  const SamplingParams& params() const { return params_; }

 private:
  SamplingParams params_;
  std::mt19937_64 rng_;
  std::vector<double> probs_;                 // V weights, reused between calls
  std::vector<SamplerCandidate> candidates_;  // scratch for the top-k/top-p selections
};

}  // namespace flotilla::infer
