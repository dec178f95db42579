#include "model/rope.h"

#include <ATen/ATen.h>

#include <cmath>

namespace flotilla::model {

at::Tensor rope_inverse_frequencies(const ModelConfig& config) {
  const int64_t dim = config.head_dim;
  auto inv = 1.0 / at::pow(config.rope_theta, at::arange(0, dim, 2, at::kDouble) / static_cast<double>(dim));
  const auto& rs = config.rope_scaling;
  if (rs.type == "linear") return inv / rs.factor;
  if (rs.type != "llama3") return inv;
  // Llama 3.1 scaling: long wavelengths divided by factor, short ones kept, a smooth blend between.
  const double old_len = static_cast<double>(rs.original_max_position_embeddings);
  const double low_wavelen = old_len / rs.low_freq_factor, high_wavelen = old_len / rs.high_freq_factor;
  auto wavelen = 2.0 * M_PI / inv;
  auto scaled = at::where(wavelen > low_wavelen, inv / rs.factor, inv);
  auto smooth = (old_len / wavelen - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor);
  auto smoothed = (1.0 - smooth) * scaled / rs.factor + smooth * scaled;
  auto medium = at::logical_and(wavelen >= high_wavelen, wavelen <= low_wavelen);
  return at::where(medium, smoothed, scaled);
}

RotaryTable::RotaryTable(const ModelConfig& config) : inverse_frequencies_(rope_inverse_frequencies(config)) {}

void RotaryTable::grow(int64_t length, at::Device device) {
  int64_t size = cos_.defined() ? cos_.size(0) : 0;
  if (size >= length && cos_.device() == device) return;
  size = std::max<int64_t>({length, 2 * size, 256});
  auto angles = at::outer(at::arange(size, at::kDouble), inverse_frequencies_);
  auto doubled = at::cat({angles, angles}, /*dim=*/-1);
  cos_ = doubled.cos().to(at::kFloat).to(device);
  sin_ = doubled.sin().to(at::kFloat).to(device);
}

std::pair<at::Tensor, at::Tensor> RotaryTable::lookup(const at::Tensor& positions, int64_t max_position,
                                                      at::ScalarType dtype) {
  grow(max_position + 1, positions.device());
  const int64_t B = positions.size(0), T = positions.size(1), D = cos_.size(1);
  auto flat = positions.reshape({-1});
  auto cos = cos_.index_select(0, flat).view({B, 1, T, D}).to(dtype);
  auto sin = sin_.index_select(0, flat).view({B, 1, T, D}).to(dtype);
  return {cos, sin};
}

at::Tensor apply_rotary(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  auto rotated = at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, /*dim=*/-1);
  return x * cos + rotated * sin;
}

}  // namespace flotilla::model
