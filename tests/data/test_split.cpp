// Seeded stratified splits: sizes by largest remainder, every item in exactly one split, and a
// golden permutation so the shuffle cannot drift between platforms or releases.
#include <gtest/gtest.h>

#include <array>
#include <numeric>
#include <set>

#include "core/error.h"
#include "data/jsonl.h"
#include "data/split.h"

using namespace flotilla::data;

namespace flotilla {
namespace {

std::vector<uint32_t> categories_of_sizes(const std::vector<size_t>& sizes) {
  std::vector<uint32_t> categories;
  // Interleave the categories, as a real file would.
  for (size_t round = 0; categories.size() < std::accumulate(sizes.begin(), sizes.end(), size_t{0}); ++round) {
    for (size_t c = 0; c < sizes.size(); ++c) {
      if (round < sizes[c]) categories.push_back(static_cast<uint32_t>(c));
    }
  }
  return categories;
}

TEST(Split, LargestRemainderSizesPerCategory) {
  const std::vector<size_t> sizes = {7, 13, 29, 51};
  const auto categories = categories_of_sizes(sizes);
  const auto split = data::split_stratified(categories, 0.15, 0.1, /*seed=*/5);
  EXPECT_EQ(split.valid.size(), 15u);
  EXPECT_EQ(split.test.size(), 10u);
  EXPECT_EQ(split.train.size(), 75u);

  std::vector<int> seen(categories.size());
  std::vector<std::array<int, 3>> per_category(sizes.size());
  const std::vector<uint32_t>* parts[] = {&split.train, &split.valid, &split.test};
  for (int s = 0; s < 3; ++s) {
    for (uint32_t i : *parts[s]) ++seen[i], ++per_category[categories[i]][s];
  }
  for (int count : seen) EXPECT_EQ(count, 1);
  for (size_t c = 0; c < sizes.size(); ++c) {
    EXPECT_NEAR(per_category[c][1], sizes[c] * 0.15, 1) << "category " << c;
    EXPECT_NEAR(per_category[c][2], sizes[c] * 0.1, 1) << "category " << c;
  }
}

TEST(Split, SmallInputsAndBadFractions) {
  auto one = data::split_stratified({0}, 0.2, 0.0, 0);
  EXPECT_EQ(one.train.size(), 1u);
  EXPECT_TRUE(one.valid.empty());
  auto two = data::split_stratified({0, 0}, 0.2, 0.0, 0);
  EXPECT_EQ(two.valid.size(), 1u);  // a positive fraction gives at least one record
  EXPECT_EQ(two.train.size(), 1u);
  auto empty = data::split_stratified({}, 0.2, 0.1, 0);
  EXPECT_TRUE(empty.train.empty() && empty.valid.empty() && empty.test.empty());
  EXPECT_THROW(data::split_stratified({0, 0}, 0.5, 0.5, 0), Error);
  EXPECT_THROW(data::split_stratified({0, 0}, -0.1, 0.0, 0), Error);
}

TEST(Split, GoldenPermutationForASeed) {
  std::vector<int> items(10);
  std::iota(items.begin(), items.end(), 0);
  std::mt19937_64 rng(42);
  data::shuffle(items, rng);
  // mt19937_64's output is fixed by the C++ standard; the shuffle is ours, so this holds everywhere.
  EXPECT_EQ(items, (std::vector<int>{1, 7, 9, 0, 3, 8, 4, 2, 5, 6}));

  std::mt19937_64 bounded(1);
  for (int i = 0; i < 1000; ++i) EXPECT_LT(data::uniform_index(bounded, 7), 7u);
}

TEST(Split, HashIsStableAndSpreads) {
  EXPECT_EQ(data::hash64(""), 0xf52a15e9a9b5e89bull);
  EXPECT_NE(data::hash64("{\"text\":\"a\"}"), data::hash64("{\"text\":\"b\"}"));
  std::set<uint64_t> hashes;
  for (int i = 0; i < 100000; ++i) hashes.insert(data::hash64("record " + std::to_string(i)));
  EXPECT_EQ(hashes.size(), 100000u);
}

}  // namespace
}  // namespace flotilla
