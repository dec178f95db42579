#include "infer/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"

namespace flotilla {

namespace {

int64_t argmax(const float* logits, int64_t vocab) {
  int64_t best = 0;
  for (int64_t i = 1; i < vocab; ++i) {
    if (logits[i] > logits[best]) best = i;
  }
  return best;
}

// A total order (probability descending, then id) so every standard library keeps the same tokens.
struct ByProbabilityDesc {
  const std::vector<double>& probs;
  bool operator()(int64_t a, int64_t b) const { return probs[a] != probs[b] ? probs[a] > probs[b] : a < b; }
};

double mass_of(const std::vector<int64_t>& ids, const std::vector<double>& probs) {
  double mass = 0.0;
  for (int64_t id : ids) mass += probs[id];
  return mass;
}

// Keeps the shortest prefix of ids (sorted descending) whose mass reaches target; false if none does.
bool keep_nucleus(std::vector<int64_t>& ids, const std::vector<double>& probs, double target) {
  double cumulative = 0.0;
  for (size_t i = 0; i < ids.size(); ++i) {
    cumulative += probs[ids[i]];
    if (cumulative >= target) {
      ids.resize(i + 1);
      return true;
    }
  }
  return false;
}

}  // namespace

Sampler::Sampler(SamplingParams params) : params_(params), rng_(params.seed) {
  if (!(params.temperature >= 0.f) || std::isinf(params.temperature)) {
    fail("sampler", "temperature must be finite and >= 0 (0 = greedy), got {}", params.temperature);
  }
  if (params.top_k < 0) fail("sampler", "top_k must be >= 0 (0 = off), got {}", params.top_k);
  if (!(params.top_p > 0.f && params.top_p <= 1.f)) {
    fail("sampler", "top_p must be in (0, 1] (1 = off), got {}", params.top_p);
  }
  if (!(params.min_p >= 0.f && params.min_p < 1.f)) {
    fail("sampler", "min_p must be in [0, 1) (0 = off), got {}", params.min_p);
  }
}

int64_t Sampler::sample(const float* logits, int64_t vocab) {
  if (logits == nullptr || vocab <= 0) fail("sampler", "need logits over a positive vocab size, got V={}", vocab);
  if (params_.temperature == 0.f) return argmax(logits, vocab);

  // Unnormalized softmax(logits / T) in double: the top token has weight exactly 1, and every filter
  // below works relative to the mass still kept, which is what renormalizing would give.
  const double max_logit = logits[argmax(logits, vocab)];
  if (!std::isfinite(max_logit)) fail("sampler", "largest logit is {}; logits must be finite", max_logit);
  const double inv_temperature = 1.0 / params_.temperature;
  probs_.resize(vocab);
  double total = 0.0;
  for (int64_t i = 0; i < vocab; ++i) {
    probs_[i] = std::exp((static_cast<double>(logits[i]) - max_logit) * inv_temperature);
    total += probs_[i];
  }
  if (!std::isfinite(total)) fail("sampler", "logits contain NaN");

  const ByProbabilityDesc descending{probs_};
  kept_.resize(vocab);
  std::iota(kept_.begin(), kept_.end(), int64_t{0});
  bool sorted = false;
  if (params_.top_k > 0 && params_.top_k < vocab) {
    std::nth_element(kept_.begin(), kept_.begin() + params_.top_k, kept_.end(), descending);
    kept_.resize(params_.top_k);
    std::sort(kept_.begin(), kept_.end(), descending);
    sorted = true;
  }
  if (params_.top_p < 1.f) {
    const double mass = sorted ? mass_of(kept_, probs_) : total;
    const double target = params_.top_p * mass;
    if (!sorted) {
      // Tokens below (1 - top_p) * mass / (V - 1) cannot be in the nucleus (llama2.c's trick), so only
      // the rest is sorted.
      const double cutoff = vocab > 1 ? (1.0 - params_.top_p) * mass / static_cast<double>(vocab - 1) : 0.0;
      kept_.erase(std::remove_if(kept_.begin(), kept_.end(), [&](int64_t id) { return probs_[id] < cutoff; }),
                  kept_.end());
      std::sort(kept_.begin(), kept_.end(), descending);
    }
    if (!keep_nucleus(kept_, probs_, target) && !sorted) {
      // Rounding defeated the cutoff: decide over the full sort.
      kept_.resize(vocab);
      std::iota(kept_.begin(), kept_.end(), int64_t{0});
      std::sort(kept_.begin(), kept_.end(), descending);
      keep_nucleus(kept_, probs_, target);
    }
  }
  if (params_.min_p > 0.f) {
    // The top token always survives the filters above and has weight 1, so min_p * max_prob = min_p.
    const double threshold = params_.min_p;
    kept_.erase(std::remove_if(kept_.begin(), kept_.end(), [&](int64_t id) { return probs_[id] < threshold; }),
                kept_.end());
  }

  // uniform in [0, 1) from the top 53 bits: the same double on every platform.
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
  const double r = u * mass_of(kept_, probs_);
  double cumulative = 0.0;
  for (int64_t id : kept_) {
    cumulative += probs_[id];
    if (r < cumulative) return id;
  }
  return kept_.back();  // r rounded up to the full mass
}

}  // namespace flotilla
