// CPU matmul kernels against float64 naive products, on every instruction-set path this CPU has,
// with shapes that are not multiples of the kernels' blocks, on 1 and 2 threads. Plain C++ on raw
// buffers, so the same tests run cross-built for ARM64 under qemu (scripts/test_arm64_kernels.sh).
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/cpu_isa.h"
#include "kernels/dense_gemv.h"
#include "kernels/number_formats.h"
#include "kernels/quantized_matmul.h"
#include "kernels/random_values.h"

namespace flotilla {
namespace {

using kernels::Isa;

// A random MLX-quantized matrix, its float64 dequantization computed here from the bits.
struct RandomQuantized {
  int64_t rows, cols;
  int bits, group_size;
  std::vector<uint32_t> packed;
  std::vector<uint16_t> scales, biases;  // bfloat16 bits
  std::vector<double> dense;             // [rows][cols]

  RandomQuantized(int64_t rows_, int64_t cols_, int bits_, int group_size_, uint32_t seed)
      : rows(rows_), cols(cols_), bits(bits_), group_size(group_size_) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal;
    packed.resize(rows * cols * bits / 32);
    for (auto& word : packed) word = rng();
    const int64_t groups = rows * (cols / group_size);
    for (int64_t g = 0; g < groups; ++g) {
      scales.push_back(kernels::float_to_bf16(0.02f * std::fabs(normal(rng)) + 1e-3f));
      const float bias = 0.1f * normal(rng);
      biases.push_back(kernels::float_to_bf16(std::fabs(bias) < 1e-4f ? 0.0f : bias));  // exact in float16 too
    }
    const int per_word = 32 / bits;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) {
        const uint32_t word = packed[(r * cols + c) / per_word];
        const uint32_t code = (word >> ((c % per_word) * bits)) & ((1u << bits) - 1);
        const int64_t g = r * (cols / group_size) + c / group_size;
        dense.push_back(code * double(kernels::bf16_to_float(scales[g])) + kernels::bf16_to_float(biases[g]));
      }
  }
  kernels::QuantizedMatrix matrix() const {
    return {packed.data(), scales.data(), biases.data(), kernels::ScaleType::bf16, rows, cols, bits, group_size};
  }
};

std::vector<float> random_vector(int64_t n, uint32_t seed) { return test::random_normals<float>(n, seed); }

// Largest |y - Σ w·x| relative to Σ|w·x| over every output: the error the kernel's rounding allows.
template <typename Weight>
double worst_relative_error(const std::vector<float>& y, const Weight& weight, int64_t rows, int64_t cols,
                            const std::vector<float>& x, int64_t tokens) {
  double worst = 0;
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t r = 0; r < rows; ++r) {
      double exact = 0, magnitude = 0;
      for (int64_t c = 0; c < cols; ++c) {
        const double term = double(weight(r, c)) * x[t * cols + c];
        exact += term;
        magnitude += std::fabs(term);
      }
      worst = std::max(worst, std::fabs(y[t * rows + r] - exact) / magnitude);
    }
  return worst;
}

// Every ISA path up to what the CPU has, restoring the active one afterwards.
std::vector<Isa> paths_on_this_cpu() {
  std::vector<Isa> paths = {Isa::portable};
#if defined(__aarch64__)
  for (Isa isa : {Isa::neon, Isa::neon_dotprod, Isa::neon_i8mm})
#else
  for (Isa isa : {Isa::avx2, Isa::avx512, Isa::avx512_vnni})
#endif
    if (isa <= kernels::cpu_isa()) paths.push_back(isa);
  return paths;
}

struct IsaScope {
  Isa saved;
  explicit IsaScope(Isa isa) : saved(kernels::set_active_isa(isa)) {}
  ~IsaScope() { kernels::set_active_isa(saved); }
};

struct ThreadScope {  // the kernels' OpenMP threads
  int saved = omp_get_max_threads();
  explicit ThreadScope(int n) { omp_set_num_threads(n); }
  ~ThreadScope() { omp_set_num_threads(saved); }
};

TEST(MatmulKernels, EveryPathIsChecked) {
  std::cout << "[kernels] CPU: " << kernels::isa_name(kernels::cpu_isa())
            << ", active: " << kernels::isa_name(kernels::active_isa()) << "; paths tested:";
  for (Isa isa : paths_on_this_cpu()) std::cout << " " << kernels::isa_name(isa);
  std::cout << "\n";
#if defined(__x86_64__)
  if (kernels::cpu_isa() < Isa::avx512_vnni)
    std::cout << "[kernels] note: this CPU lacks AVX-512 VNNI, so that path is not run here\n";
#elif defined(__aarch64__)
  if (kernels::cpu_isa() < Isa::neon_dotprod)
    std::cout << "[kernels] note: this CPU lacks the int8 dot product, so that path is not run here\n";
  if (kernels::cpu_isa() < Isa::neon_i8mm)
    std::cout << "[kernels] note: this CPU lacks the int8 matrix multiply, so that path is not run here\n";
#endif
}

struct QuantCase {
  int bits, group_size;
  int64_t rows, cols;
};

class QuantizedGemv : public ::testing::TestWithParam<QuantCase> {};

TEST_P(QuantizedGemv, MatchesFloat64OnEveryPath) {
  const auto p = GetParam();
  const RandomQuantized w(p.rows, p.cols, p.bits, p.group_size, 7);
  const auto m = w.matrix();
  const auto weight = [&](int64_t r, int64_t c) { return w.dense[r * p.cols + c]; };
  using kernels::ActivationPrecision;
  for (int64_t tokens : {1, 3, 6}) {
    const auto x = random_vector(tokens * p.cols, 11 + tokens);
    for (Isa isa : paths_on_this_cpu())
      for (int threads : {1, 2})
        for (auto precision : {ActivationPrecision::int16, ActivationPrecision::int8}) {
          IsaScope isa_scope(isa);
          ThreadScope thread_scope(threads);
          std::vector<float> y(tokens * p.rows, NAN);
          kernels::quantized_gemv(m, x.data(), tokens, y.data(), precision);
          // int16 activations: ~1/65534 of a group's largest |x| per element, float32 sums beside;
          // int8 ones (4-bit weights on AVX-512 VNNI or ARM's dot product): ~1/254, the precision of
          // bfloat16 inputs.
          const bool int8 = precision == ActivationPrecision::int8;
          const double error = worst_relative_error(y, weight, p.rows, p.cols, x, tokens);
          EXPECT_LE(error, int8 ? 1e-2 : 2e-4)
              << "bits " << p.bits << " group " << p.group_size << " [" << p.rows << ", " << p.cols << "] tokens "
              << tokens << " " << kernels::isa_name(isa) << " threads " << threads << (int8 ? " int8" : " int16");
        }
  }
}

// The int8 path must really be taken where it exists, for every group size: its error is larger
// than int16's.
TEST(QuantizedGemv, Int8ActivationsAreUsedWithIntegerDotProducts) {
#if defined(__aarch64__)
  const Isa int8_isa = Isa::neon_dotprod;
#else
  const Isa int8_isa = Isa::avx512_vnni;
#endif
  if (kernels::cpu_isa() < int8_isa) GTEST_SKIP() << "this CPU has no " << kernels::isa_name(int8_isa);
  for (int group_size : {32, 64, 128}) {
    const RandomQuantized w(64, 512, 4, group_size, 9);
    const auto x = random_vector(512, 4);
    std::vector<float> y16(64), y8(64);
    IsaScope isa_scope(int8_isa);
    kernels::quantized_gemv(w.matrix(), x.data(), 1, y16.data(), kernels::ActivationPrecision::int16);
    kernels::quantized_gemv(w.matrix(), x.data(), 1, y8.data(), kernels::ActivationPrecision::int8);
    const auto weight = [&](int64_t r, int64_t c) { return w.dense[r * 512 + c]; };
    const double e16 = worst_relative_error(y16, weight, 64, 512, x, 1), e8 = worst_relative_error(y8, weight, 64, 512, x, 1);
    std::cout << "[kernels] group " << group_size << ": relative error int16 " << e16 << ", int8 " << e8 << "\n";
    EXPECT_GT(e8, 10 * e16) << "group " << group_size;
    EXPECT_LE(e8, 1e-2) << "group " << group_size;
  }
}

TEST_P(QuantizedGemv, DequantizedRowsAreExactOnEveryPath) {
  const auto p = GetParam();
  const RandomQuantized w(p.rows, p.cols, p.bits, p.group_size, 3);
  const int64_t first = 1, count = p.rows - 2;
  for (Isa isa : paths_on_this_cpu()) {
    IsaScope isa_scope(isa);
    std::vector<float> rows(count * p.cols);
    std::vector<uint16_t> rows_bf16(count * p.cols);
    kernels::dequantize_rows(w.matrix(), first, count, rows.data());
    kernels::dequantize_rows_bf16(w.matrix(), first, count, rows_bf16.data());
    for (int64_t i = 0; i < count * p.cols; ++i) {
      const double expected = w.dense[first * p.cols + i];
      // code·scale is exact in float32 (8-bit mantissa times ≤ 8-bit code); adding the bias rounds once.
      ASSERT_NEAR(rows[i], expected, std::fabs(expected) * 6e-8 + 1e-12) << "element " << i << " " << kernels::isa_name(isa);
      ASSERT_EQ(rows_bf16[i], kernels::float_to_bf16(rows[i])) << "element " << i << " " << kernels::isa_name(isa);
    }
  }
}

// Row bytes that are and are not multiples of the SIMD chunks (16 and 32 bytes), groups that fill
// several chunks or share one, an odd row count.
INSTANTIATE_TEST_SUITE_P(
    Shapes, QuantizedGemv,
    ::testing::Values(QuantCase{4, 64, 37, 256}, QuantCase{4, 32, 37, 96}, QuantCase{4, 128, 19, 384},
                      QuantCase{4, 32, 21, 160}, QuantCase{4, 32, 21, 384}, QuantCase{8, 64, 37, 192}, QuantCase{8, 32, 23, 96},
                      QuantCase{8, 128, 17, 256}, QuantCase{2, 64, 29, 256}, QuantCase{2, 32, 13, 128},
                      QuantCase{2, 128, 9, 384}, QuantCase{4, 64, 300, 4096},
                      QuantCase{4, 64, 33, 1024}),
    [](const auto& info) {
      const auto& c = info.param;
      return "bits" + std::to_string(c.bits) + "_group" + std::to_string(c.group_size) + "_" + std::to_string(c.rows) +
             "x" + std::to_string(c.cols);
    });

TEST(QuantizedGemv, Float16AndFloat32ScalesDecodeLikeBfloat16) {
  const RandomQuantized w(9, 128, 4, 64, 5);
  std::vector<float> scales32, biases32;
  for (auto s : w.scales) scales32.push_back(kernels::bf16_to_float(s));
  for (auto b : w.biases) biases32.push_back(kernels::bf16_to_float(b));
  auto m = w.matrix();
  m.scale_type = kernels::ScaleType::f32;
  m.scales = scales32.data();
  m.biases = biases32.data();
  std::vector<float> from_f32(9 * 128), reference(9 * 128);
  kernels::dequantize_rows(m, 0, 9, from_f32.data());
  kernels::dequantize_rows(w.matrix(), 0, 9, reference.data());
  EXPECT_EQ(from_f32, reference);
  // 1.5, -0.25 and a subnormal half (2^-24) in IEEE half precision.
  EXPECT_EQ(kernels::f16_to_float(0x3e00), 1.5f);
  EXPECT_EQ(kernels::f16_to_float(0xb400), -0.25f);
  EXPECT_EQ(kernels::f16_to_float(0x0001), std::ldexp(1.0f, -24));
  EXPECT_TRUE(std::isinf(kernels::f16_to_float(0x7c00)));
}

// The same values as float16 and float32 scales and biases give the GEMV the same products, on
// every path and precision, for each group size the one-pass decoding kernels take.
TEST(QuantizedGemv, Float16AndFloat32ScalesMatchFloat64OnEveryPath) {
  using kernels::ActivationPrecision;
  for (int group_size : {32, 64, 128}) {
    const RandomQuantized w(21, 384, 4, group_size, 13);
    std::vector<float> scales32, biases32;
    std::vector<uint16_t> scales16, biases16;
    for (size_t g = 0; g < w.scales.size(); ++g) {
      scales32.push_back(kernels::bf16_to_float(w.scales[g]));
      biases32.push_back(kernels::bf16_to_float(w.biases[g]));
      scales16.push_back(kernels::float_to_f16(scales32.back()));
      biases16.push_back(kernels::float_to_f16(biases32.back()));
      ASSERT_EQ(kernels::f16_to_float(scales16.back()), scales32.back());
      ASSERT_EQ(kernels::f16_to_float(biases16.back()), biases32.back());
    }
    const auto weight = [&](int64_t r, int64_t c) { return w.dense[r * w.cols + c]; };
    for (auto type : {kernels::ScaleType::f16, kernels::ScaleType::f32}) {
      auto m = w.matrix();
      m.scale_type = type;
      m.scales = type == kernels::ScaleType::f16 ? static_cast<const void*>(scales16.data()) : scales32.data();
      m.biases = type == kernels::ScaleType::f16 ? static_cast<const void*>(biases16.data()) : biases32.data();
      for (int64_t tokens : {1, 3}) {
        const auto x = random_vector(tokens * w.cols, 17 + tokens);
        for (Isa isa : paths_on_this_cpu())
          for (auto precision : {ActivationPrecision::int16, ActivationPrecision::int8}) {
            IsaScope isa_scope(isa);
            std::vector<float> y(tokens * w.rows, NAN);
            kernels::quantized_gemv(m, x.data(), tokens, y.data(), precision);
            const bool int8 = precision == ActivationPrecision::int8;
            EXPECT_LE(worst_relative_error(y, weight, w.rows, w.cols, x, tokens), int8 ? 1e-2 : 2e-4)
                << "group " << group_size << (type == kernels::ScaleType::f16 ? " float16" : " float32") << " tokens "
                << tokens << " " << kernels::isa_name(isa) << (int8 ? " int8" : " int16");
          }
      }
    }
  }
}

TEST(DenseGemv, Float32AndBfloat16MatchFloat64OnEveryPath) {
  for (int64_t cols : {7, 64, 100, 1030}) {
    const int64_t rows = 45;
    const auto wf = random_vector(rows * cols, 1);
    std::vector<uint16_t> wb;
    for (float v : wf) wb.push_back(kernels::float_to_bf16(v));
    for (int64_t tokens : {1, 2, 5}) {
      const auto x = random_vector(tokens * cols, 2 + tokens);
      for (Isa isa : paths_on_this_cpu())
        for (int threads : {1, 2}) {
          IsaScope isa_scope(isa);
          ThreadScope thread_scope(threads);
          std::vector<float> y32(tokens * rows, NAN), y16(tokens * rows, NAN);
          kernels::dense_gemv(wf.data(), rows, cols, x.data(), tokens, y32.data());
          kernels::dense_gemv(wb.data(), rows, cols, x.data(), tokens, y16.data());
          const auto f32 = [&](int64_t r, int64_t c) { return wf[r * cols + c]; };
          const auto b16 = [&](int64_t r, int64_t c) { return kernels::bf16_to_float(wb[r * cols + c]); };
          const std::string where = "cols " + std::to_string(cols) + " tokens " + std::to_string(tokens) + " " +
                                    kernels::isa_name(isa) + " threads " + std::to_string(threads);
          EXPECT_LE(worst_relative_error(y32, f32, rows, cols, x, tokens), 1e-5) << "float32, " << where;
          EXPECT_LE(worst_relative_error(y16, b16, rows, cols, x, tokens), 1e-5) << "bfloat16, " << where;
        }
    }
  }
}

}  // namespace
}  // namespace flotilla
