#include "model/rope.h"

#include <ATen/ATen.h>

#include <cmath>

namespace flotilla::model {

at::Tensor rope_inverse_frequencies(const ModelConfig& config, bool long_context) {
  const int64_t dim = config.rotated_dims();
  auto inv = 1.0 / at::pow(config.rope_theta, at::arange(0, dim, 2, at::kDouble) / static_cast<double>(dim));
  const auto& rs = config.rope_scaling;
  if (rs.type == "linear") return inv / rs.factor;
  if (rs.type == "longrope") return inv / at::tensor(long_context ? rs.long_factor : rs.short_factor, at::kDouble);
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

RotaryTable::RotaryTable(const ModelConfig& config)
    : original_context_(config.rope_scaling.original_max_position_embeddings),
      attention_factor_(config.rope_scaling.type == "longrope" ? config.rope_scaling.attention_factor : 1.0) {
  short_.inverse_frequencies = rope_inverse_frequencies(config);
  if (config.rope_scaling.type == "longrope") long_.inverse_frequencies = rope_inverse_frequencies(config, /*long_context=*/true);
}

void RotaryTable::grow(Rows& rows, int64_t length, at::Device device) const {
  int64_t size = rows.cos.defined() ? rows.cos.size(0) : 0;
  if (size >= length && rows.cos.device() == device) return;
  size = std::max<int64_t>({length, 2 * size, 256});
  auto angles = at::outer(at::arange(size, at::kDouble), rows.inverse_frequencies);
  auto doubled = at::cat({angles, angles}, /*dim=*/-1);
  rows.cos = (doubled.cos() * attention_factor_).to(at::kFloat).to(device);
  rows.sin = (doubled.sin() * attention_factor_).to(at::kFloat).to(device);
}

std::pair<at::Tensor, at::Tensor> RotaryTable::lookup(const at::Tensor& positions, int64_t max_position,
                                                      at::ScalarType dtype) {
  Rows& rows = long_.inverse_frequencies.defined() && max_position + 1 > original_context_ ? long_ : short_;
  grow(rows, max_position + 1, positions.device());
  const int64_t B = positions.size(0), T = positions.size(1), R = rows.cos.size(1);
  auto flat = positions.reshape({-1});
  auto cos = rows.cos.index_select(0, flat).view({B, 1, T, R}).to(dtype);
  auto sin = rows.sin.index_select(0, flat).view({B, 1, T, R}).to(dtype);
  return {cos, sin};
}

at::Tensor apply_rotary(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const int64_t D = x.size(-1), R = cos.size(-1), half = R / 2;
  const auto part = R == D ? x : x.narrow(-1, 0, R);
  auto rotated = at::cat({-part.narrow(-1, half, half), part.narrow(-1, 0, half)}, /*dim=*/-1);
  auto turned = part * cos + rotated * sin;
  return R == D ? turned : at::cat({turned, x.narrow(-1, R, D - R)}, /*dim=*/-1);
}

}  // namespace flotilla::model
