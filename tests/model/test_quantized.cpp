// MLX affine quantization: unpacking checked against a naive scalar decoder, and round trips.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>

#include "io/tensor_io.h"
#include "io/weight_store.h"
#include "lora/adapters.h"
#include "model/linear.h"
#include "model/loader.h"
#include "model/quantized.h"
#include "model/quantized_linear.h"
#include "support/golden.h"
#include "support/paths.h"

using namespace flotilla::io;
using namespace flotilla::lora;
using namespace flotilla::model;

namespace flotilla {
namespace {

// Independent path: decode each element with plain integer arithmetic on the packed words.
at::Tensor naive_dequantize(const QuantizedWeight& w) {
  auto packed = w.packed.contiguous();
  auto scales = w.scales.to(at::kDouble).contiguous(), biases = w.biases.to(at::kDouble).contiguous();
  const int64_t out = packed.size(0), in = w.in_features(), per_word = 32 / w.spec.bits, groups = in / w.spec.group_size;
  auto result = at::empty({out, in}, at::kDouble);
  const auto* p = packed.data_ptr<int32_t>();
  const auto *s = scales.data_ptr<double>(), *b = biases.data_ptr<double>();
  auto* r = result.data_ptr<double>();
  for (int64_t row = 0; row < out; ++row) {
    for (int64_t c = 0; c < in; ++c) {
      uint32_t word = static_cast<uint32_t>(p[row * packed.size(1) + c / per_word]);
      uint32_t code = (word >> ((c % per_word) * w.spec.bits)) & ((1u << w.spec.bits) - 1);
      const int64_t g = row * groups + c / w.spec.group_size;
      r[row * in + c] = code * s[g] + b[g];
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

// MLX's quantizer written out per group with scalar floats, as its CPU loop reads: the edge (the
// end of larger magnitude) on a level, the step stretched so the level is whole, codes in [0, 2^bits).
QuantizedWeight naive_mlx_quantize(const at::Tensor& weight, QuantSpec spec) {
  auto w = weight.to(at::kFloat).contiguous();
  const int64_t out = w.size(0), in = w.size(1), groups = in / spec.group_size, per_word = 32 / spec.bits;
  auto packed = at::zeros({out, in / per_word}, at::kInt);
  auto scales = at::empty({out, groups}, at::kFloat), biases = at::empty({out, groups}, at::kFloat);
  const float* x = w.data_ptr<float>();
  const float levels = static_cast<float>((1 << spec.bits) - 1);
  for (int64_t row = 0; row < out; ++row) {
    for (int64_t g = 0; g < groups; ++g) {
      const float* v = x + row * in + g * spec.group_size;
      const float lo = *std::min_element(v, v + spec.group_size), hi = *std::max_element(v, v + spec.group_size);
      const bool lo_is_edge = std::fabs(lo) > std::fabs(hi);
      float step = std::max((hi - lo) / levels, 1e-7f);
      if (!lo_is_edge) step = -step;
      const float edge = lo_is_edge ? lo : hi;
      const float edge_level = std::nearbyint(edge / step);
      float bias = 0;
      if (edge_level != 0) step = edge / edge_level, bias = edge;
      for (int64_t j = 0; j < spec.group_size; ++j) {
        const float code = std::min(std::max(std::nearbyint((v[j] - bias) / step), 0.0f), levels);
        const int64_t column = g * spec.group_size + j;
        auto word = static_cast<uint32_t>(packed[row][column / per_word].item<int32_t>());
        word |= static_cast<uint32_t>(code) << ((column % per_word) * spec.bits);
        packed[row][column / per_word] = static_cast<int32_t>(word);
      }
      scales[row][g] = step;
      biases[row][g] = bias;
    }
  }
  return {packed, scales, biases, spec};
}

// Groups whose smaller end is the edge, groups of one value (zero step) and an all-zero group.
TEST(Quantized, QuantizeFollowsMlxsRule) {
  at::manual_seed(4);
  auto weight = at::randn({6, 128});
  weight[1] = weight[1].abs();
  weight[2] = -weight[2].abs();
  weight[3].fill_(0.25);
  weight[4].zero_();
  for (auto spec : {QuantSpec{4, 64}, QuantSpec{8, 32}, QuantSpec{2, 128}}) {
    const auto got = mlx_quantize(weight, spec, at::kFloat), want = naive_mlx_quantize(weight, spec);
    EXPECT_TRUE(at::equal(got.packed, want.packed)) << "bits " << spec.bits;
    EXPECT_TRUE(at::equal(got.scales, want.scales)) << "bits " << spec.bits;
    EXPECT_TRUE(at::equal(got.biases, want.biases)) << "bits " << spec.bits;
  }
  EXPECT_LT(mlx_quantize(weight, {4, 64}, at::kFloat).scales.min().item<float>(), 0) << "MLX's scales take signs";
}

class QuantRoundTrip : public ::testing::TestWithParam<QuantSpec> {};

TEST_P(QuantRoundTrip, ErrorWithinAStep) {
  const QuantSpec spec = GetParam();
  auto weight = at::randn({16, 256}, at::kFloat);
  auto q = mlx_quantize(weight, spec, at::kFloat);
  check_quantized_shapes(q, 16, 256, "test");
  auto restored = mlx_dequantize(q, at::kFloat);
  test::expect_close(restored, naive_dequantize(q), 1e-5, "vectorised vs naive decode");
  auto step = q.scales.abs().repeat_interleave(spec.group_size, 1);
  double worst = ((restored - weight).abs() / step).max().item<double>();
  std::cout << "[quant] bits " << spec.bits << " group " << spec.group_size << ": worst error " << worst << " steps\n";
  // Half a step, except at the group's far end: stretching the step to put the edge on a whole
  // level can move the last level by up to one step (|edge| spans at least half the group).
  EXPECT_LE(worst, 1 + 1e-3);
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

// x·Wᵀ in float64 from the naive decoder: the reference for the kernels behind quantized_linear.
at::Tensor naive_product(const at::Tensor& x, const QuantizedWeight& w) {
  return at::matmul(x.to(at::kDouble), naive_dequantize(w).t());
}

// Relative to the size of the terms: max |y - ref| / max Σ|w·x|.
double relative_error(const at::Tensor& y, const at::Tensor& x, const QuantizedWeight& w) {
  auto reference = naive_product(x, w);
  auto magnitude = at::matmul(x.to(at::kDouble).abs(), naive_dequantize(w).abs().t());
  return ((y.to(at::kDouble) - reference).abs() / magnitude).max().item<double>();
}

TEST(QuantizedLinear, FewAndManyTokensMatchFloat64) {
  at::manual_seed(0);
  // 4200 rows of 256 inputs span two float32 tiles of ~4 MB; 5 and 300 tokens take the tiles.
  for (auto spec : {QuantSpec{4, 64}, QuantSpec{8, 32}, QuantSpec{2, 128}}) {
    auto w = mlx_quantize(at::randn({4200, 256}), spec, at::kBFloat16);
    for (int64_t tokens : {1, 4, 5, 300}) {
      auto x = at::randn({tokens, 256});
      const double error = relative_error(quantized_linear(x, w), x, w);
      std::cout << "[qlinear] bits " << spec.bits << " group " << spec.group_size << " tokens " << tokens
                << ": relative error " << error << " (tolerance 2e-4)\n";
      EXPECT_LE(error, 2e-4);
    }
  }
}

TEST(QuantizedLinear, BatchedShapeAndBfloat16Activations) {
  at::manual_seed(1);
  auto w = mlx_quantize(at::randn({96, 128}), {4, 64}, at::kBFloat16);
  for (int64_t T : {1, 7}) {
    auto x = at::randn({2, T, 128});
    auto y = quantized_linear(x.to(at::kBFloat16), w);
    ASSERT_EQ(y.scalar_type(), at::kBFloat16);
    ASSERT_EQ(y.sizes(), (std::vector<int64_t>{2, T, 96}));
    // bf16 inputs and outputs: 8 mantissa bits each way.
    EXPECT_LE(relative_error(y, x.to(at::kBFloat16).to(at::kFloat), w), 1e-2) << "tokens " << T;
  }
}

TEST(QuantizedLinear, InputGradientMatchesFiniteDifferences) {
  at::manual_seed(2);
  auto w = mlx_quantize(at::randn({40, 192}), {4, 64}, at::kBFloat16);
  auto x = at::randn({2, 3, 192}, at::kDouble).requires_grad_(true);
  auto weights = at::randn({2, 3, 40}, at::kDouble);
  auto loss = [&](const at::Tensor& input) { return (quantized_linear(input, w) * weights).sum(); };
  loss(x).backward();
  auto analytic = x.grad();
  at::NoGradGuard guard;
  double worst = 0;
  const double h = 1e-4;
  for (int64_t i : {0, 5, 191, 200, 383, 575}) {
    auto plus = x.detach().clone(), minus = x.detach().clone();
    plus.view(-1)[i] += h;
    minus.view(-1)[i] -= h;
    const double numeric = (loss(plus).item<double>() - loss(minus).item<double>()) / (2 * h);
    worst = std::max(worst, std::fabs(numeric - analytic.view(-1)[i].item<double>()));
  }
  std::cout << "[qlinear] input gradient vs central differences: max |diff| " << worst << " (tolerance 1e-7)\n";
  EXPECT_LE(worst, 1e-7);
  test::expect_close(analytic, at::matmul(weights, naive_dequantize(w)), 1e-10, "input gradient vs weights·W in float64");
}

// DoRA's magnitude starts as |W| per row; over a quantized W it comes from dequantized tiles
// (1100 rows of 1024 inputs: two float32 tiles), here against the naive decoder in float64.
TEST(QuantizedLinear, DoraMagnitudeOverQuantizedBaseIsTheRowNorm) {
  at::manual_seed(5);
  auto w = mlx_quantize(at::randn({1100, 1024}), {4, 64}, at::kBFloat16);
  Linear linear("test.q_proj", 1024, 1100, LinearWeights{at::Tensor(), w, at::Tensor()}, at::kDouble);
  AdapterSpec spec;
  spec.dora = true;
  linear->attach_adapter(spec, 1);
  test::expect_close(linear->named_parameters()["m"], naive_dequantize(w).norm(2, {1}), 1e-10,
                     "DoRA magnitude over a 4-bit base vs float64 row norms");
}

// The 4-bit fixture with every quantized weight written out dense (float32), through the test's decoder.
std::filesystem::path dequantized_fixture() {
  const auto source = test::stories_dir() / "mlx-4bit";
  auto config = load_model_config((source / "config.json").string());
  auto store = WeightStore::open_dir(source.string());
  NamedTensors dense;
  for (const auto& name : store.names()) {
    if (name.size() > 7 && name.compare(name.size() - 7, 7, ".scales") == 0) continue;
    if (name.size() > 7 && name.compare(name.size() - 7, 7, ".biases") == 0) continue;
    const auto prefix = name.substr(0, name.size() - 7);
    if (store.contains(prefix + ".scales")) {
      QuantizedWeight q{store.get(name), store.get(prefix + ".scales"), store.get(prefix + ".biases"),
                        config.quantization.for_layer(prefix)};
      dense.emplace_back(name, naive_dequantize(q).to(at::kFloat));
    } else {
      dense.emplace_back(name, store.get(name).to(at::kFloat));
    }
  }
  config.quantization = {};
  config.torch_dtype = "float32";
  auto dir = test::scratch_dir("dequantized-4bit");
  std::ofstream(dir / "config.json") << config.to_json().dump(2);
  save_safetensors((dir / "model.safetensors").string(), dense);
  return dir;
}

// QLoRA through the kernels against LoRA on the same weights stored dense: equal losses and
// adapter gradients (B made non-zero so both factors get gradients), both in float32.
TEST(QuantizedLinear, QLoraStepEqualsDenseDequantizedModel) {
  auto quantized = load_model((test::stories_dir() / "mlx-4bit").string(), {at::kFloat});
  auto dense = load_model(dequantized_fixture().string(), {at::kFloat});
  LoraConfig lora;
  lora.num_layers = -1;
  std::vector<at::Tensor> losses;
  std::vector<NamedTensors> gradients;
  for (auto* m : {&quantized, &dense}) {
    apply_fine_tuning(m->model, lora, /*seed=*/3);
    at::manual_seed(4);
    {
      at::NoGradGuard guard;
      for (auto& [name, t] : trainable_tensors(m->model))
        if (name.find("lora_b") != std::string::npos) t.normal_(0, 0.05);
    }
    m->model->train();
    auto tokens = at::arange(1, 41, at::kLong).view({2, 20}) * 7 % 500 + 3;
    auto logits = m->model->forward(tokens.narrow(1, 0, 19));
    auto loss = at::cross_entropy_loss(logits.reshape({-1, logits.size(-1)}), tokens.narrow(1, 1, 19).reshape({-1}));
    loss.backward();
    losses.push_back(loss.detach());
    NamedTensors grads;
    for (auto& [name, t] : trainable_tensors(m->model)) grads.emplace_back(name, t.grad().clone());
    gradients.push_back(grads);
  }
  test::expect_close(losses[0], losses[1], 1e-4, "QLoRA loss: kernels vs dense dequantized");
  ASSERT_EQ(gradients[0].size(), gradients[1].size());
  double worst = 0;
  for (size_t i = 0; i < gradients[0].size(); ++i) {
    const auto& a = gradients[0][i].second;
    const auto& b = gradients[1][i].second;
    worst = std::max(worst, ((a - b).abs().max() / (b.abs().max() + 1e-12)).item<double>());
  }
  std::cout << "[qlora] " << gradients[0].size() << " adapter gradients: worst relative difference " << worst
            << " (tolerance 1e-3)\n";
  EXPECT_LE(worst, 1e-3);
}

TEST(QuantizedLinear, BfloatModelComputesInBfloat16ByDefault) {
  auto m = load_model((test::stories_dir() / "mlx-4bit").string());
  EXPECT_EQ(m.config.torch_dtype, "bfloat16");
  EXPECT_EQ(m.dtype, at::kBFloat16);
  EXPECT_EQ(m.model->dtype(), at::kBFloat16);
  EXPECT_EQ(load_model((test::stories_dir() / "hf").string()).dtype, at::kFloat);
  EXPECT_EQ(load_model((test::stories_dir() / "mlx-4bit").string(), {at::kFloat}).dtype, at::kFloat);
}

}  // namespace
}  // namespace flotilla
