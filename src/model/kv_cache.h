// Per-layer key/value buffers, preallocated to a capacity so decoding appends without reallocating.
// A rotating cache (mlx-lm's --max-kv-size) keeps its first `keep` tokens and, once full, overwrites
// the oldest of the rest: attention then sees those first tokens and the most recent ones.
#pragma once
#include <ATen/Tensor.h>

#include <functional>
#include <utility>
#include <vector>

#include "model/config.h"

namespace flotilla::model {

class KVCache {
 public:
  // keep < 0: a plain cache that refuses to overflow; keep >= 0: rotating (needs capacity > keep).
  KVCache(const ModelConfig& config, int64_t batch, int64_t capacity, at::ScalarType dtype, at::Device device,
          int64_t keep = -1);

  int64_t length() const { return length_; }  // tokens seen: the next token's position
  int64_t stored() const { return stored_; }   // tokens whose keys are held (== length() unless rotated)
  int64_t capacity() const { return capacity_; }
  // How many held keys T new queries see besides their own (append's result has this + T keys).
  int64_t seen_before(int64_t T) const { return T == 1 && keep_ >= 0 && stored_ == capacity_ ? capacity_ - 1 : stored_; }

  // Stores k/v [B, Hkv, T, D] of `layer`; returns the keys/values the T new queries attend to: the
  // held ones, then the new ones (a rotating cache drops the overflow only after this call).
  std::pair<at::Tensor, at::Tensor> append(int64_t layer, const at::Tensor& k, const at::Tensor& v);
  // Called once per forward after every layer appended T tokens.
  void advance(int64_t tokens);
  // Forgets the last `tokens` tokens (rejected draft tokens); not possible once a rotating cache wrapped.
  void trim(int64_t tokens);
  void reset() { length_ = stored_ = 0, ring_next_ = keep_; }

  // The held keys/values of `layer` ([B, Hkv, stored, D]) for saving, and putting saved ones back.
  std::pair<at::Tensor, at::Tensor> layer(int64_t layer) const;
  void restore(int64_t layer, const at::Tensor& k, const at::Tensor& v);
  void set_length(int64_t length);
  int64_t layers() const { return static_cast<int64_t>(keys_.size()); }

 private:
  // Where T new tokens go: copy(first new token, first slot, count) for each contiguous run.
  void place(int64_t T, const std::function<void(int64_t, int64_t, int64_t)>& copy) const;
  // A layer's held keys or values, oldest first: a wrapped ring starts at ring_next_.
  at::Tensor in_position_order(const at::Tensor& held) const;
  std::vector<at::Tensor> keys_, values_;  // [B, Hkv, capacity, D]
  int64_t capacity_, keep_;
  int64_t length_ = 0, stored_ = 0;
  int64_t ring_next_;  // the slot a rotating cache overwrites next
};

}  // namespace flotilla::model
