// Batches for training, as mlx-lm makes them: examples sorted by token length, cut into global
// batches, batch order shuffled every epoch from the seed; each rank takes its shard of a batch.
// The position is two integers (epoch, batch), so a resumed run sees exactly the same data.
#pragma once
#include <ATen/Tensor.h>

#include <cstdint>
#include <vector>

#include "data/tokenized_example.h"

namespace flotilla::train {

struct BatchOptions {
  int64_t batch_size = 4;  // global: summed over ranks
  int64_t max_seq_length = 2048;
  uint64_t seed = 0;
  bool mask_prompt = false;
  int rank = 0;
  std::vector<int64_t> rank_batch_sizes;  // per-rank shard sizes summing to batch_size; empty = even split
};

struct Batch {
  at::Tensor inputs;   // int64 [b, T]: tokens 0..T-1 of each example (padded with 0)
  at::Tensor targets;  // int64 [b, T]: tokens 1..T
  at::Tensor mask;     // [b, T]: 1 where the target is a real, trained token
  int64_t truncated = 0;  // examples of this shard cut to max_seq_length
};

struct BatchPosition {
  int64_t epoch = 0;
  int64_t batch = 0;  // next batch within the epoch
};

class BatchIterator {
 public:
  // Throws when there are fewer examples than one global batch.
  BatchIterator(std::vector<data::TokenizedExample> examples, BatchOptions options, int world_size);

  Batch next();  // this rank's shard of the next global batch; loops over epochs forever
  int64_t batch_size() const { return options_.batch_size; }
  std::vector<int64_t> rank_batch_sizes() const;  // the current split, one size per rank
  int64_t batches_per_epoch() const { return static_cast<int64_t>(batches_.size()); }
  BatchPosition position() const { return position_; }
  void seek(BatchPosition position) { position_ = position; }
  // Splits the following global batches between ranks as given (one size per rank).
  void set_rank_batch_sizes(std::vector<int64_t> sizes);
  // This rank's shard of global batch `index` in sorted order (no shuffling): for evaluation.
  Batch batch_at(int64_t index) const;

 private:
  std::vector<int64_t> epoch_order(int64_t epoch) const;
  std::vector<data::TokenizedExample> examples_;
  BatchOptions options_;
  std::vector<std::vector<int64_t>> batches_;  // global batches of example indices
  int world_size_;
  std::pair<int64_t, int64_t> shard_;           // [begin, end) of this rank within a batch
  BatchPosition position_;
  std::vector<int64_t> order_;
  int64_t order_epoch_ = -1;
};

// Shares of a global batch by each rank's throughput (tokens/s): one example per rank, the rest in
// proportion to throughput, rounded by largest remainder so they sum to batch_size.
std::vector<int64_t> balanced_rank_batch_sizes(int64_t batch_size, const std::vector<double>& throughput);

// Pads a list of examples into a Batch (right padding to a multiple of 8, capped at max_seq_length).
Batch collate(const std::vector<const data::TokenizedExample*>& examples, int64_t max_seq_length, bool mask_prompt);

}  // namespace flotilla::train
