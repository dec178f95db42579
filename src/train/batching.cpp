#include "train/batching.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "core/error.h"

using namespace flotilla::data;

namespace flotilla::train {

namespace {

// The split without --rank-batch-sizes: as even as it goes, earlier ranks take the remainder.
std::vector<int64_t> even_split(int64_t batch_size, int world_size) {
  if (batch_size < world_size)
    fail("batching", "batch size {} is smaller than the {} ranks; every rank needs at least one example", batch_size,
         world_size);
  std::vector<int64_t> sizes;
  for (int r = 0; r < world_size; ++r) sizes.push_back(batch_size / world_size + (r < batch_size % world_size));
  return sizes;
}

std::pair<int64_t, int64_t> rank_shard(const BatchOptions& o, int world_size) {
  const auto sizes = o.rank_batch_sizes.empty() ? even_split(o.batch_size, world_size) : o.rank_batch_sizes;
  if (static_cast<int>(sizes.size()) != world_size)
    fail("batching", "{} rank batch sizes given for {} ranks", sizes.size(), world_size);
  if (*std::min_element(sizes.begin(), sizes.end()) < 1) fail("batching", "every rank batch size must be at least 1");
  if (std::accumulate(sizes.begin(), sizes.end(), int64_t{0}) != o.batch_size)
    fail("batching", "rank batch sizes sum to {}, not the batch size {}", std::accumulate(sizes.begin(), sizes.end(), int64_t{0}),
         o.batch_size);
  const int64_t begin = std::accumulate(sizes.begin(), sizes.begin() + o.rank, int64_t{0});
  return {begin, begin + sizes[o.rank]};
}

}  // namespace

std::vector<int64_t> balanced_rank_batch_sizes(int64_t batch_size, const std::vector<double>& throughput) {
  const auto ranks = static_cast<int64_t>(throughput.size());
  if (ranks == 0 || batch_size < ranks) fail("batching", "cannot share a batch of {} between {} ranks", batch_size, ranks);
  const double total = std::accumulate(throughput.begin(), throughput.end(), 0.0);
  std::vector<int64_t> sizes(ranks, 1);
  std::vector<double> remainder(ranks, 0.0);
  int64_t given = ranks;
  for (int64_t r = 0; r < ranks; ++r) {
    const double ideal = total > 0 ? (batch_size - ranks) * std::max(0.0, throughput[r]) / total : 0.0;
    sizes[r] += static_cast<int64_t>(ideal);
    remainder[r] = ideal - static_cast<int64_t>(ideal);
    given += static_cast<int64_t>(ideal);
  }
  std::vector<int64_t> order(ranks);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return remainder[a] > remainder[b]; });
  for (int64_t k = 0; given < batch_size; ++given, ++k) ++sizes[order[k % ranks]];
  return sizes;
}

BatchIterator::BatchIterator(std::vector<TokenizedExample> examples, BatchOptions options, int world_size)
    : examples_(std::move(examples)),
      options_(std::move(options)),
      world_size_(world_size),
      shard_(rank_shard(options_, world_size)) {
  if (static_cast<int64_t>(examples_.size()) < options_.batch_size)
    fail("batching", "dataset has {} examples but the batch size is {}; lower --batch-size or add data", examples_.size(),
         options_.batch_size);
  std::vector<int64_t> by_length(examples_.size());
  std::iota(by_length.begin(), by_length.end(), 0);
  std::stable_sort(by_length.begin(), by_length.end(),
                   [&](int64_t a, int64_t b) { return examples_[a].tokens.size() < examples_[b].tokens.size(); });
  for (size_t i = 0; i + options_.batch_size <= by_length.size(); i += options_.batch_size)
    batches_.emplace_back(by_length.begin() + i, by_length.begin() + i + options_.batch_size);
}

std::vector<int64_t> BatchIterator::epoch_order(int64_t epoch) const {
  std::vector<int64_t> order(batches_.size());
  std::iota(order.begin(), order.end(), 0);
  // Fisher-Yates with our own draws: the same order on every platform for a seed and epoch.
  std::mt19937_64 rng(options_.seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(epoch));
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
  return order;
}

Batch BatchIterator::next() {
  if (position_.batch >= batches_per_epoch()) position_ = {position_.epoch + 1, 0};
  if (order_epoch_ != position_.epoch) {
    order_ = epoch_order(position_.epoch);
    order_epoch_ = position_.epoch;
  }
  return batch_at(order_[position_.batch++]);
}

void BatchIterator::set_rank_batch_sizes(std::vector<int64_t> sizes) {
  options_.rank_batch_sizes = std::move(sizes);
  shard_ = rank_shard(options_, world_size_);
}

std::vector<int64_t> BatchIterator::rank_batch_sizes() const {
  return options_.rank_batch_sizes.empty() ? even_split(options_.batch_size, world_size_) : options_.rank_batch_sizes;
}

Batch BatchIterator::batch_at(int64_t index) const {
  const auto& global = batches_.at(index);
  std::vector<const TokenizedExample*> shard;
  for (int64_t i = shard_.first; i < shard_.second; ++i) shard.push_back(&examples_[global[i]]);
  return collate(shard, options_.max_seq_length, options_.mask_prompt);
}

Batch collate(const std::vector<const TokenizedExample*>& examples, int64_t max_seq_length, bool mask_prompt) {
  const int64_t b = static_cast<int64_t>(examples.size());
  int64_t longest = 0;
  for (const auto* e : examples) longest = std::max<int64_t>(longest, e->tokens.size());
  // One position fewer than the longest example: inputs and targets are shifted by one token.
  const int64_t width = std::min<int64_t>(8 * ((longest + 7) / 8), max_seq_length);
  const int64_t T = std::max<int64_t>(width - 1, 1);
  auto tokens = at::zeros({b, T + 1}, at::kLong);
  auto mask = at::zeros({b, T}, at::kFloat);
  Batch batch;
  auto* t = tokens.data_ptr<int64_t>();
  auto* m = mask.data_ptr<float>();
  for (int64_t i = 0; i < b; ++i) {
    const auto& e = *examples[i];
    const int64_t length = std::min<int64_t>(e.tokens.size(), T + 1);
    batch.truncated += length < static_cast<int64_t>(e.tokens.size());
    std::copy(e.tokens.begin(), e.tokens.begin() + length, t + i * (T + 1));
    // Target j is token j+1: trained when it is real and (with mask_prompt) past the prompt.
    const int64_t first = mask_prompt ? std::max<int64_t>(e.prompt_length, 1) : 1;
    for (int64_t j = first; j < length; ++j) m[i * T + j - 1] = 1.f;
  }
  batch.inputs = tokens.narrow(1, 0, T);
  batch.targets = tokens.narrow(1, 1, T);
  batch.mask = mask;
  return batch;
}

}  // namespace flotilla::train
