// Per-layer key/value buffers, preallocated to a capacity so decoding appends without reallocating.
#pragma once
#include <ATen/Tensor.h>

#include <utility>
#include <vector>

#include "model/config.h"

namespace flotilla::model {

class KVCache {
 public:
  KVCache(const ModelConfig& config, int64_t batch, int64_t capacity, at::ScalarType dtype, at::Device device);

  int64_t length() const { return length_; }  // tokens already cached
  int64_t capacity() const { return capacity_; }

  // Stores k/v [B, Hkv, T, D] of `layer` at the current length; returns all keys/values so far.
  std::pair<at::Tensor, at::Tensor> append(int64_t layer, const at::Tensor& k, const at::Tensor& v);
  // Called once per forward after every layer appended T tokens.
  void advance(int64_t tokens);
  void reset() { length_ = 0; }

 private:
  std::vector<at::Tensor> keys_, values_;  // [B, Hkv, capacity, D]
  int64_t capacity_;
  int64_t length_ = 0;
};

}  // namespace flotilla::model
