#include "model/quantized.h"

#include <ATen/ATen.h>

#include "core/error.h"
#include "tensor/shape.h"

using namespace flotilla::tensor;

namespace flotilla::model {

namespace {

// [N, words] int32 -> [N, words * 32/bits] int32 of unsigned codes, lowest bits first.
at::Tensor unpack_codes(const at::Tensor& packed, int bits) {
  const int64_t per_word = 32 / bits;
  auto shifts = at::arange(0, 32, bits, packed.options());
  auto codes = at::bitwise_and(at::bitwise_right_shift(packed.unsqueeze(-1), shifts), (1 << bits) - 1);
  return codes.reshape({packed.size(0), packed.size(1) * per_word});
}

// Rows of any leading shape ([out, words], or stacked experts' [E, out, words]).
at::Tensor dequantize_packed(const at::Tensor& packed, const at::Tensor& scales, const at::Tensor& biases,
                             const QuantSpec& spec, at::ScalarType dtype) {
  auto codes = unpack_codes(packed.reshape({-1, packed.size(-1)}), spec.bits).to(at::kFloat);
  const int64_t n = codes.size(0);
  auto grouped = codes.view({n, -1, spec.group_size});
  auto w = grouped * scales.reshape({n, -1}).to(at::kFloat).unsqueeze(-1) + biases.reshape({n, -1}).to(at::kFloat).unsqueeze(-1);
  auto shape = packed.sizes().vec();
  shape.back() = codes.size(1);
  return w.view(shape).to(dtype);
}

}  // namespace

int64_t QuantizedWeight::in_features() const { return packed.size(-1) * 32 / spec.bits; }

at::Tensor mlx_dequantize(const QuantizedWeight& w, at::ScalarType dtype) {
  return dequantize_packed(w.packed, w.scales, w.biases, w.spec, dtype);
}

at::Tensor mlx_dequantize_rows(const QuantizedWeight& w, const at::Tensor& rows, at::ScalarType dtype) {
  return dequantize_packed(w.packed.index_select(0, rows), w.scales.index_select(0, rows),
                           w.biases.index_select(0, rows), w.spec, dtype);
}

// MLX's affine rule: the group's end of larger magnitude (the edge) sits exactly on a level and
// zero, when the group spans it, on a whole number of steps; scales may be negative. Codes are
// rounded against the float32 step, then scales and biases are stored in `scale_dtype`.
QuantizedWeight mlx_quantize(const at::Tensor& weight, QuantSpec spec, at::ScalarType scale_dtype) {
  if (weight.dim() < 2 || weight.size(-1) % spec.group_size != 0 || weight.size(-1) % (32 / spec.bits) != 0)
    fail("quantize", "weight of shape {} cannot be split into groups of {}", shape_string(weight.sizes()), spec.group_size);
  if (weight.dim() > 2) {  // stacked experts: each row on its own, as in two dimensions
    auto rows = mlx_quantize(weight.reshape({-1, weight.size(-1)}), spec, scale_dtype);
    auto leading = weight.sizes().vec();
    leading.pop_back();
    const auto shaped = [&](const at::Tensor& t) { auto s = leading; s.push_back(t.size(-1)); return t.view(s); };
    return {shaped(rows.packed), shaped(rows.scales), shaped(rows.biases), spec};
  }
  const int64_t out = weight.size(0);
  const double levels = (1 << spec.bits) - 1;
  auto groups = weight.to(at::kFloat).reshape({out, -1, spec.group_size});
  auto w_min = std::get<0>(groups.min(-1, /*keepdim=*/true));
  auto w_max = std::get<0>(groups.max(-1, /*keepdim=*/true));
  auto min_is_edge = w_min.abs() > w_max.abs();
  auto step = at::clamp_min((w_max - w_min) / levels, 1e-7);
  step = at::where(min_is_edge, step, -step);
  auto edge = at::where(min_is_edge, w_min, w_max);
  auto edge_level = at::round(edge / step);
  auto on_level = edge_level != 0;
  step = at::where(on_level, edge / edge_level, step);
  auto bias = at::where(on_level, edge, at::zeros_like(edge));
  auto codes = at::clamp(at::round((groups - bias) / step), 0, levels).to(at::kInt).reshape({out, -1, 32 / spec.bits});
  auto shifts = at::arange(0, 32, spec.bits, codes.options());
  auto packed = at::bitwise_left_shift(codes, shifts).sum(-1, /*keepdim=*/false, at::kLong);
  // Sum of disjoint bit fields; wrap to int32 keeping the low 32 bits.
  packed = at::where(packed >= (int64_t{1} << 31), packed - (int64_t{1} << 32), packed).to(at::kInt);
  return {packed.contiguous(), step.squeeze(-1).to(scale_dtype).contiguous(),
          bias.squeeze(-1).to(scale_dtype).contiguous(), spec};
}

void check_quantized_shapes(const QuantizedWeight& w, int64_t out, int64_t in, const std::string& name) {
  const auto& s = w.spec;
  const int64_t words = in * s.bits / 32, groups = in / s.group_size;
  auto shape_is = [](const at::Tensor& t, int64_t a, int64_t b) { return t.dim() == 2 && t.size(0) == a && t.size(1) == b; };
  if (in % s.group_size != 0)
    fail("quantized", "'{}': {} inputs do not split into groups of {}", name, in, s.group_size);
  if (!shape_is(w.packed, out, words))
    fail("quantized", "'{}.weight' has shape {}; expected [{}, {}] for {}-bit packing of [{}, {}]", name,
         shape_string(w.packed.sizes()), out, words, s.bits, out, in);
  if (!shape_is(w.scales, out, groups) || !shape_is(w.biases, out, groups))
    fail("quantized", "'{}': scales {} / biases {}; expected [{}, {}] for group size {}", name,
         shape_string(w.scales.sizes()), shape_string(w.biases.sizes()), out, groups, s.group_size);
  if (w.packed.scalar_type() != at::kInt)
    fail("quantized", "'{}.weight' must be U32 (packed), got {}", name, at::toString(w.packed.scalar_type()));
}

}  // namespace flotilla::model
