#include "data/split.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace flotilla::data {

namespace {

size_t target_size(size_t n, double fraction) {
  if (fraction <= 0 || n == 0) return 0;
  const auto size = static_cast<size_t>(std::llround(static_cast<double>(n) * fraction));
  return std::max<size_t>(size, n > 1 ? 1 : 0);
}

// Splits `target` items among categories in proportion to counts (largest remainder method),
// never giving a category more than its capacity.
std::vector<size_t> allocate(const std::vector<size_t>& counts, const std::vector<size_t>& capacity, double fraction,
                             size_t target) {
  std::vector<size_t> share(counts.size());
  std::vector<std::pair<double, size_t>> remainders;
  size_t given = 0;
  for (size_t c = 0; c < counts.size(); ++c) {
    const double exact = static_cast<double>(counts[c]) * fraction;
    share[c] = std::min(static_cast<size_t>(std::floor(exact)), capacity[c]);
    given += share[c];
    remainders.emplace_back(exact - static_cast<double>(share[c]), c);
  }
  std::stable_sort(remainders.begin(), remainders.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (bool progress = true; given < target && progress;) {
    progress = false;
    for (const auto& [remainder, c] : remainders) {
      if (given == target) break;
      if (share[c] < capacity[c]) {
        ++share[c];
        ++given;
        progress = true;
      }
    }
  }
  return share;
}

}  // namespace

uint64_t uniform_index(std::mt19937_64& rng, uint64_t n) {
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;  // largest multiple of n: values at or past it are redrawn
  uint64_t x;
  do {
    x = rng();
  } while (x >= limit);
  return x % n;
}

void check_split_fractions(double valid_fraction, double test_fraction) {
  if (!(valid_fraction >= 0 && test_fraction >= 0 && valid_fraction + test_fraction < 1)) {
    fail("data", "valid fraction {} and test fraction {}: each must be >= 0 and together < 1", valid_fraction, test_fraction);
  }
}

SplitIndices split_stratified(const std::vector<uint32_t>& categories, double valid_fraction, double test_fraction,
                              uint64_t seed) {
  check_split_fractions(valid_fraction, test_fraction);
  const size_t n = categories.size();
  const size_t groups_count = categories.empty() ? 0 : *std::max_element(categories.begin(), categories.end()) + 1;
  std::vector<std::vector<uint32_t>> groups(groups_count);
  for (size_t i = 0; i < n; ++i) groups[categories[i]].push_back(static_cast<uint32_t>(i));

  std::mt19937_64 rng(seed);
  std::vector<size_t> counts(groups_count);
  for (size_t c = 0; c < groups_count; ++c) {
    shuffle(groups[c], rng);
    counts[c] = groups[c].size();
  }
  const auto valid = allocate(counts, counts, valid_fraction, target_size(n, valid_fraction));
  std::vector<size_t> room(groups_count);
  for (size_t c = 0; c < groups_count; ++c) room[c] = counts[c] - valid[c];
  const auto test = allocate(counts, room, test_fraction, target_size(n, test_fraction));

  SplitIndices split;
  for (size_t c = 0; c < groups_count; ++c) {
    const auto& group = groups[c];
    split.valid.insert(split.valid.end(), group.begin(), group.begin() + valid[c]);
    split.test.insert(split.test.end(), group.begin() + valid[c], group.begin() + valid[c] + test[c]);
    split.train.insert(split.train.end(), group.begin() + valid[c] + test[c], group.end());
  }
  // Mix the categories within each split (they were appended category by category).
  shuffle(split.train, rng);
  shuffle(split.valid, rng);
  shuffle(split.test, rng);
  return split;
}

}  // namespace flotilla::data
