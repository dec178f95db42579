// ggml's storage types as the GGUF export writes them: f16 rounding against c10::Half, Q8_0 and
// Q4_0 blocks worked by hand from ggml-quants.c's reference quantizers, and the q/k row orders.
#include <ATen/ATen.h>
#include <c10/util/Half.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "convert/ggml_blocks.h"
#include "convert/rotary_rows.h"
#include "core/error.h"
#include "kernels/number_formats.h"

using namespace flotilla::convert;

namespace flotilla {
namespace {

uint16_t half_bits(float value) {
  const c10::Half h(value);
  uint16_t bits;
  std::memcpy(&bits, &h, sizeof bits);
  return bits;
}

TEST(GgufBlocks, F16RoundsLikeCTenHalfOverTheWholeRange) {
  std::mt19937 rng(1);
  std::vector<float> values = {0.0f, -0.0f, 1.0f, 65504.0f, 65519.0f, 65520.0f, 1e6f, -1e6f, 6.1e-5f, 5.96e-8f, 2.98e-8f,
                               2.99e-8f, 1e-10f, std::numeric_limits<float>::infinity()};
  for (int i = 0; i < 200000; ++i) {
    uint32_t bits = rng();
    float f;
    std::memcpy(&f, &bits, sizeof f);
    if (!std::isnan(f)) values.push_back(f);
  }
  int mismatches = 0;
  for (float v : values) mismatches += kernels::float_to_f16(v) != half_bits(v);
  EXPECT_EQ(mismatches, 0) << "of " << values.size() << " values";
  EXPECT_TRUE(std::isnan(kernels::f16_to_float(kernels::float_to_f16(std::nanf("")))));
}

TEST(GgufBlocks, Q4_0BlockByHand) {
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j - 16);  // largest magnitude: -16 at j = 0
  std::vector<uint8_t> out;
  append_ggml_row(GgmlType::Q4_0, x.data(), x.size(), out);
  ASSERT_EQ(out.size(), 18u);
  EXPECT_EQ(out[0] | (out[1] << 8), kernels::float_to_f16(2.0f));  // d = -16 / -8
  for (int j = 0; j < 16; ++j) {
    // q = min(15, trunc(x / 2 + 8.5)): low nibble from x[j], high nibble from x[j + 16].
    const int low = std::min(15, static_cast<int>(x[j] / 2 + 8.5f)), high = std::min(15, static_cast<int>(x[j + 16] / 2 + 8.5f));
    EXPECT_EQ(out[2 + j], low | (high << 4)) << j;
  }
  const auto back = decode_ggml_row(GgmlType::Q4_0, out.data(), 32);
  for (int j = 0; j < 32; ++j) EXPECT_LE(std::fabs(back[j] - x[j]), 1.0f) << j;  // within d / 2
}

TEST(GgufBlocks, Q8_0BlockByHandAndRoundTrip) {
  std::vector<float> x(64);
  for (int j = 0; j < 64; ++j) x[j] = std::sin(0.7f * j) * (j < 32 ? 1.0f : 1e-3f);
  std::vector<uint8_t> out;
  append_ggml_row(GgmlType::Q8_0, x.data(), x.size(), out);
  ASSERT_EQ(out.size(), 68u);
  float amax = 0;
  for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
  EXPECT_EQ(out[0] | (out[1] << 8), kernels::float_to_f16(amax / 127));
  EXPECT_EQ(static_cast<int8_t>(out[2 + 3]), static_cast<int8_t>(std::round(x[3] / (amax / 127))));
  // Within half a step, plus 127 times the fp16 rounding of the step (the second block's is subnormal).
  const auto back = decode_ggml_row(GgmlType::Q8_0, out.data(), 64);
  for (int j = 0; j < 64; ++j) {
    float block_max = 0;
    for (int k = j / 32 * 32; k < j / 32 * 32 + 32; ++k) block_max = std::max(block_max, std::fabs(x[k]));
    const float d = block_max / 127;
    const float stored = kernels::f16_to_float(kernels::float_to_f16(d));
    EXPECT_LE(std::fabs(back[j] - x[j]), d / 2 + 127 * std::fabs(stored - d) + 1e-9f) << j;
  }
  EXPECT_THROW(append_ggml_row(GgmlType::Q8_0, x.data(), 33, out), Error);
}

TEST(GgufBlocks, RotaryRowsHalvesToInterleavedAndBack) {
  // One head of D = 4: Hugging Face rotates rows (0, 2) and (1, 3); GGUF llama wants them adjacent.
  const auto w = at::arange(8, at::kFloat).reshape({4, 2});
  EXPECT_TRUE(at::equal(halves_to_interleaved(w, 1).select(1, 0), at::tensor({0.0f, 4.0f, 2.0f, 6.0f})));
  const auto bias = at::arange(24, at::kFloat);
  EXPECT_TRUE(at::equal(interleaved_to_halves(halves_to_interleaved(bias, 3), 3), bias));
  EXPECT_THROW(halves_to_interleaved(at::zeros({6, 2}), 2), Error);
}

}  // namespace
}  // namespace flotilla
