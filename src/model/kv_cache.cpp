#include "model/kv_cache.h"

#include <ATen/ATen.h>

#include "core/error.h"

namespace flotilla::model {

KVCache::KVCache(const ModelConfig& config, int64_t batch, int64_t capacity, at::ScalarType dtype,
                 at::Device device)
    : capacity_(capacity) {
  auto options = at::TensorOptions().dtype(dtype).device(device);
  for (int64_t i = 0; i < config.num_hidden_layers; ++i) {
    keys_.push_back(at::zeros({batch, config.num_key_value_heads, capacity, config.head_dim}, options));
    values_.push_back(at::zeros({batch, config.num_key_value_heads, capacity, config.head_dim}, options));
  }
}

std::pair<at::Tensor, at::Tensor> KVCache::append(int64_t layer, const at::Tensor& k, const at::Tensor& v) {
  const int64_t T = k.size(2);
  if (length_ + T > capacity_)
    fail("kv_cache", "cannot add {} tokens to {} cached: capacity is {}", T, length_, capacity_);
  keys_[layer].narrow(2, length_, T).copy_(k);
  values_[layer].narrow(2, length_, T).copy_(v);
  return {keys_[layer].narrow(2, 0, length_ + T), values_[layer].narrow(2, 0, length_ + T)};
}

void KVCache::advance(int64_t tokens) { length_ += tokens; }

}  // namespace flotilla::model
