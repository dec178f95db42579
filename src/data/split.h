// Seeded, stratified train/valid/test splits. The shuffle is our own (std::mt19937_64, whose output
// the C++ standard fixes, and Fisher-Yates with rejection sampling), so a seed gives the same split
// on every platform and standard library.
#pragma once
#include <cstdint>
#include <random>
#include <vector>

namespace flotilla::data {

// Uniform integer in [0, n) without modulo bias.
uint64_t uniform_index(std::mt19937_64& rng, uint64_t n);

template <typename T>
void shuffle(std::vector<T>& items, std::mt19937_64& rng) {
  for (size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[uniform_index(rng, i)]);
}

struct SplitIndices {
  std::vector<uint32_t> train, valid, test;  // item indices, each split in shuffled order
};

// Throws unless both fractions are >= 0 and together < 1.
void check_split_fractions(double valid_fraction, double test_fraction);

// Splits items 0..n-1 (category of item i = categories[i], small dense ids). Overall sizes are
// round(n * fraction) (at least 1 when the fraction is positive and n > 1); each category gets its
// proportional share by largest remainder, so every category is split with the same fractions (±1).
SplitIndices split_stratified(const std::vector<uint32_t>& categories, double valid_fraction,
                              double test_fraction, uint64_t seed);

}  // namespace flotilla::data
