#include "model/kv_cache.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "core/error.h"

namespace flotilla::model {

KVCache::KVCache(const ModelConfig& config, int64_t batch, int64_t capacity, at::ScalarType dtype,
                 at::Device device, int64_t keep)
    : capacity_(capacity), keep_(keep), ring_next_(keep) {
  if (keep >= 0 && capacity <= keep)
    fail("kv_cache", "a rotating cache of {} tokens cannot keep its first {}: give it more than {}", capacity, keep, keep);
  auto options = at::TensorOptions().dtype(dtype).device(device);
  for (int64_t i = 0; i < config.num_hidden_layers; ++i) {
    keys_.push_back(at::zeros({batch, config.num_key_value_heads, capacity, config.head_dim}, options));
    values_.push_back(at::zeros({batch, config.num_key_value_heads, capacity, config.head_dim}, options));
  }
}

void KVCache::place(int64_t T, const std::function<void(int64_t, int64_t, int64_t)>& copy) const {
  const int64_t fill = std::min(T, capacity_ - stored_);
  if (fill > 0) copy(0, stored_, fill);
  const int64_t rest = T - fill;
  if (rest == 0) return;
  // Only the last `window` of the overflowing tokens survive, in ring order after ring_next_.
  const int64_t window = capacity_ - keep_, survivors = std::min(rest, window);
  const int64_t first = T - survivors, offset = (ring_next_ - keep_ + rest - survivors) % window;
  const int64_t run = std::min(survivors, window - offset);
  copy(first, keep_ + offset, run);
  if (survivors > run) copy(first + run, keep_, survivors - run);
}

std::pair<at::Tensor, at::Tensor> KVCache::append(int64_t layer, const at::Tensor& k, const at::Tensor& v) {
  const int64_t T = k.size(2);
  auto& keys = keys_[layer];
  auto& values = values_[layer];
  if (stored_ + T <= capacity_) {
    keys.narrow(2, stored_, T).copy_(k);
    values.narrow(2, stored_, T).copy_(v);
    return {keys.narrow(2, 0, stored_ + T), values.narrow(2, 0, stored_ + T)};
  }
  if (keep_ < 0) fail("kv_cache", "cannot add {} tokens to {} cached: capacity is {}", T, stored_, capacity_);
  auto write = [&](int64_t from, int64_t slot, int64_t count) {
    keys.narrow(2, slot, count).copy_(k.narrow(2, from, count));
    values.narrow(2, slot, count).copy_(v.narrow(2, from, count));
  };
  // One token replaces the oldest and sees the full cache, as in mlx-lm: capacity keys in all.
  if (T == 1 && stored_ == capacity_) {
    place(T, write);
    return {keys, values};
  }
  // Several see every held token, in position order (a window counts back from each query), and
  // the new ones; then the new ones take the oldest slots.
  auto seen = std::make_pair(at::cat({in_position_order(keys), k}, 2), at::cat({in_position_order(values), v}, 2));
  place(T, write);
  return seen;
}

at::Tensor KVCache::in_position_order(const at::Tensor& held) const {
  if (stored_ < capacity_ || ring_next_ == keep_) return held.narrow(2, 0, stored_);
  return at::cat({held.narrow(2, 0, keep_), held.narrow(2, ring_next_, capacity_ - ring_next_),
                  held.narrow(2, keep_, ring_next_ - keep_)}, 2);
}

void KVCache::advance(int64_t tokens) {
  const int64_t rest = tokens - std::min(tokens, capacity_ - stored_);
  if (rest > 0) ring_next_ = keep_ + (ring_next_ - keep_ + rest) % (capacity_ - keep_);
  stored_ = std::min(capacity_, stored_ + tokens);
  length_ += tokens;
}

void KVCache::trim(int64_t tokens) {
  if (tokens < 0 || tokens > stored_ || stored_ != length_)
    fail("kv_cache", "cannot forget {} of {} cached tokens{}", tokens, length_,
         stored_ != length_ ? " after the rotating cache wrapped" : "");
  stored_ -= tokens;
  length_ -= tokens;
}

std::pair<at::Tensor, at::Tensor> KVCache::layer(int64_t layer) const {
  return {keys_.at(layer).narrow(2, 0, stored_), values_.at(layer).narrow(2, 0, stored_)};
}

void KVCache::restore(int64_t layer, const at::Tensor& k, const at::Tensor& v) {
  const int64_t T = k.size(2);
  if (T > capacity_) fail("kv_cache", "{} saved tokens do not fit a cache of {}", T, capacity_);
  keys_.at(layer).narrow(2, 0, T).copy_(k);
  values_.at(layer).narrow(2, 0, T).copy_(v);
}

void KVCache::set_length(int64_t length) {
  if (length > capacity_) fail("kv_cache", "{} saved tokens do not fit a cache of {}", length, capacity_);
  length_ = stored_ = length;
  ring_next_ = keep_;
}

}  // namespace flotilla::model
