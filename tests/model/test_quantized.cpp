// MLX affine quantization: unpacking checked against a naive scalar decoder, and round trips.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "io/weight_store.h"
#include "model/quantized.h"
#include "support/golden.h"
#include "support/paths.h"

namespace flotilla {
namespace {

// Independent path: decode each element with plain integer arithmetic on the packed words.
at::Tensor naive_dequantize(const QuantizedWeight& w) {
  auto packed = w.packed.contiguous();
  auto scales = w.scales.to(at::kDouble).contiguous(), biases = w.biases.to(at::kDouble).contiguous();
  const int64_t out = packed.size(0), in = w.in_features(), per_word = 32 / w.spec.bits;
  auto result = at::empty({out, in}, at::kDouble);
  auto* p = packed.data_ptr<int32_t>();
  for (int64_t r = 0; r < out; ++r) {
    for (int64_t c = 0; c < in; ++c) {
      uint32_t word = static_cast<uint32_t>(p[r * packed.size(1) + c / per_word]);
      uint32_t code = (word >> ((c % per_word) * w.spec.bits)) & ((1u << w.spec.bits) - 1);
      int64_t g = c / w.spec.group_size;
      result[r][c] = code * scales[r][g].item<double>() + biases[r][g].item<double>();
    }
  }
  return result;
}

TEST(Quantized, FixtureDequantizationMatchesNaiveDecoder) {
  auto store = WeightStore::open_dir((test::stories_dir() / "mlx-4bit").string());
  const std::string p = "model.layers.2.self_attn.q_proj";
  QuantizedWeight w{store.get(p + ".weight"), store.get(p + ".scales"), store.get(p + ".biases"), {4, 64}};
  test::expect_close(mlx_dequantize(w, at::kFloat), naive_dequantize(w), 1e-6, "vectorised vs naive 4-bit decode");
  auto rows = at::tensor(std::vector<int64_t>{5, 0, 63}, at::kLong);
  test::expect_close(mlx_dequantize_rows(w, rows, at::kFloat), naive_dequantize(w).index_select(0, rows), 1e-6,
                     "row gather decode");
}

class QuantRoundTrip : public ::testing::TestWithParam<QuantSpec> {};

TEST_P(QuantRoundTrip, ErrorWithinHalfAStep) {
  const QuantSpec spec = GetParam();
  auto weight = at::randn({16, 256}, at::kFloat);
  auto q = mlx_quantize(weight, spec, at::kFloat);
  check_quantized_shapes(q, 16, 256, "test");
  auto restored = mlx_dequantize(q, at::kFloat);
  test::expect_close(restored, naive_dequantize(q), 1e-5, "vectorised vs naive decode");
  auto step = q.scales.repeat_interleave(spec.group_size, 1);
  double worst = ((restored - weight).abs() / step).max().item<double>();
  std::cout << "[quant] bits " << spec.bits << " group " << spec.group_size << ": worst error " << worst << " steps\n";
  EXPECT_LE(worst, 0.5 + 1e-3);
}

INSTANTIATE_TEST_SUITE_P(Specs, QuantRoundTrip,
                         ::testing::Values(QuantSpec{4, 64}, QuantSpec{4, 32}, QuantSpec{8, 128}, QuantSpec{2, 64}));

TEST(Quantized, ShapeMismatchIsReported) {
  auto q = mlx_quantize(at::randn({8, 64}), {4, 64}, at::kFloat);
  try {
    check_quantized_shapes(q, 8, 128, "model.layers.0.mlp.up_proj");
    FAIL() << "no error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("model.layers.0.mlp.up_proj.weight' has shape [8, 8]"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace flotilla
