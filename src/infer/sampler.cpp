#include "infer/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"

namespace flotilla::infer {

namespace {

int64_t argmax(const float* logits, int64_t vocab) {
  int64_t best = 0;
  for (int64_t i = 1; i < vocab; ++i) {
    if (logits[i] > logits[best]) best = i;
  }
  return best;
}

// Candidates carry their weight, so selections compare contiguous memory instead of chasing ids.
// The order is total (weight descending, then id), so every standard library keeps the same tokens.
bool precedes(const SamplerCandidate& a, const SamplerCandidate& b) {
  return a.weight != b.weight ? a.weight > b.weight : a.id < b.id;
}

// Quickselect on mass: the candidate that completes the shortest run (in `precedes` order) of
// c[0, n) reaching target. Expected O(n), no sort. If rounding never reaches target, the last one.
SamplerCandidate nucleus_pivot(std::vector<SamplerCandidate>& c, size_t n, double target) {
  size_t lo = 0, hi = n;  // c[0, lo) precede the answer, which lies in c[lo, hi)
  double before = 0.0;    // mass of c[0, lo)
  while (hi - lo > 1) {
    const size_t mid = lo + (hi - lo - 1) / 2;
    std::nth_element(c.begin() + lo, c.begin() + mid, c.begin() + hi, precedes);
    double through_mid = before;
    for (size_t i = lo; i <= mid; ++i) through_mid += c[i].weight;
    if (through_mid >= target) {
      hi = mid + 1;
    } else {
      before = through_mid;
      lo = mid + 1;
    }
  }
  return c[lo];
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

  // Each filter keeps a prefix of the `precedes` order, so the kept set is "at or before pivot";
  // finding the pivot takes quickselects, never a sort.
  const bool top_k = params_.top_k > 0 && params_.top_k < vocab;
  const bool top_p = params_.top_p < 1.f;
  auto gather = [&](double at_least) {  // candidates_ = a prefix of the order; returns its mass
    candidates_.clear();
    double mass = 0.0;
    for (int64_t i = 0; i < vocab; ++i) {
      if (probs_[i] < at_least) continue;
      candidates_.push_back({probs_[i], i});
      mass += probs_[i];
    }
    return mass;
  };
  SamplerCandidate pivot{0.0, vocab};  // after every id: all kept
  if (top_k) {
    gather(0.0);
    const size_t k = static_cast<size_t>(params_.top_k);
    std::nth_element(candidates_.begin(), candidates_.begin() + (k - 1), candidates_.end(), precedes);
    pivot = candidates_[k - 1];
    candidates_.resize(k);
    if (top_p) {
      double mass = 0.0;
      for (const auto& c : candidates_) mass += c.weight;
      pivot = nucleus_pivot(candidates_, k, params_.top_p * mass);
    }
  } else if (top_p) {
    // Weights below (1 - top_p) * total / (V - 1) cannot be in the nucleus (llama2.c's trick), which
    // leaves few candidates for peaked logits; should rounding defeat it, all of them are searched.
    const double target = params_.top_p * total;
    const double cutoff = vocab > 1 ? (1.0 - params_.top_p) * total / static_cast<double>(vocab - 1) : 0.0;
    if (gather(cutoff) < target) gather(0.0);
    pivot = nucleus_pivot(candidates_, candidates_.size(), target);
  }
  // The top token has weight 1 and survives every filter, so min_p * max_prob = min_p.
  const double min_weight = params_.min_p;
  auto kept = [&](int64_t id) { return probs_[id] >= min_weight && !precedes(pivot, {probs_[id], id}); };

  double kept_mass = 0.0;
  for (int64_t id = 0; id < vocab; ++id) {
    if (kept(id)) kept_mass += probs_[id];
  }
  // uniform in [0, 1) from the top 53 bits, then a walk in id order: the same token on every platform.
  const double r = static_cast<double>(rng_() >> 11) * 0x1.0p-53 * kept_mass;
  double cumulative = 0.0;
  int64_t last = 0;
  for (int64_t id = 0; id < vocab; ++id) {
    if (!kept(id)) continue;
    cumulative += probs_[id];
    if (r < cumulative) return id;
    last = id;
  }
  return last;  // r rounded up to the full mass
}

}  // namespace flotilla::infer
