// The causal attention kernel on raw buffers against a float64 loop written here: outputs,
// log-sum-exps and all three gradients, with grouped heads, a window, prefill and decoding shapes,
// head sizes with fixed-length loops and without, on 1 and 2 threads. No libtorch, so the same
// tests run cross-built for ARM64 under qemu (scripts/test_arm64_kernels.sh).
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/attention.h"
#include "kernels/random_values.h"

namespace flotilla {
namespace {

using namespace kernels::attention;

struct Case {
  int64_t batch, heads, kv_heads, queries, keys, dim, window;
};

// [B, H, N, D] contiguous.
template <typename T>
Rows<T> rows_of(T* data, int64_t heads, int64_t positions, int64_t dim) {
  return {data, heads * positions * dim, positions * dim, dim};
}

struct Reference {
  std::vector<double> out, logsumexp, grad_q, grad_k, grad_v;
};

// Softmax attention one query at a time, and its gradients from the softmax's Jacobian.
Reference reference(const Case& c, double scale, const std::vector<double>& q, const std::vector<double>& k,
                    const std::vector<double>& v, const std::vector<double>& grad_out) {
  const int64_t B = c.batch, H = c.heads, KV = c.kv_heads, T = c.queries, S = c.keys, D = c.dim, group = H / KV;
  Reference r{std::vector<double>(q.size()), std::vector<double>(B * H * T), std::vector<double>(q.size()),
              std::vector<double>(k.size()), std::vector<double>(v.size())};
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t t = 0; t < T; ++t) {
        const int64_t position = S - T + t, first = c.window > 0 ? std::max<int64_t>(0, position - c.window + 1) : 0;
        const double* qt = &q[((b * H + h) * T + t) * D];
        const auto key = [&](const std::vector<double>& m, int64_t j) { return &m[((b * KV + h / group) * S + j) * D]; };
        std::vector<double> p(S, 0.0);
        double largest = -INFINITY, total = 0;
        for (int64_t j = first; j <= position; ++j) {
          for (int64_t d = 0; d < D; ++d) p[j] += scale * qt[d] * key(k, j)[d];
          largest = std::max(largest, p[j]);
        }
        for (int64_t j = first; j <= position; ++j) total += std::exp(p[j] - largest);
        r.logsumexp[(b * H + h) * T + t] = largest + std::log(total);
        for (int64_t j = first; j <= position; ++j) p[j] = std::exp(p[j] - largest) / total;
        double* ot = &r.out[((b * H + h) * T + t) * D];
        for (int64_t j = first; j <= position; ++j)
          for (int64_t d = 0; d < D; ++d) ot[d] += p[j] * key(v, j)[d];
        const double* go = &grad_out[((b * H + h) * T + t) * D];
        double go_dot_out = 0;
        for (int64_t d = 0; d < D; ++d) go_dot_out += go[d] * ot[d];
        for (int64_t j = first; j <= position; ++j) {
          double go_dot_v = 0;
          for (int64_t d = 0; d < D; ++d) go_dot_v += go[d] * key(v, j)[d];
          const double ds = p[j] * (go_dot_v - go_dot_out) * scale;
          const int64_t kv_row = ((b * KV + h / group) * S + j) * D;
          for (int64_t d = 0; d < D; ++d) {
            r.grad_q[((b * H + h) * T + t) * D + d] += ds * key(k, j)[d];
            r.grad_k[kv_row + d] += ds * qt[d];
            r.grad_v[kv_row + d] += p[j] * go[d];
          }
        }
      }
  return r;
}

// Largest |got - expected| over the largest |expected|.
template <typename T>
double relative_error(const std::vector<T>& got, const std::vector<double>& expected) {
  double worst = 0, scale = 1e-300;
  for (size_t i = 0; i < got.size(); ++i) {
    worst = std::max(worst, std::fabs(double(got[i]) - expected[i]));
    scale = std::max(scale, std::fabs(expected[i]));
  }
  return worst / scale;
}

template <typename Real>
void check(const Case& c, int threads, double tolerance) {
  const int64_t B = c.batch, H = c.heads, KV = c.kv_heads, T = c.queries, S = c.keys, D = c.dim;
  const double scale = 1.0 / std::sqrt(double(D));
  const auto q64 = test::random_normals<double>(B * H * T * D, 1), k64 = test::random_normals<double>(B * KV * S * D, 2), v64 = test::random_normals<double>(B * KV * S * D, 3);
  const auto go64 = test::random_normals<double>(B * H * T * D, 4);
  const auto as_t = [](const std::vector<double>& x) { return std::vector<Real>(x.begin(), x.end()); };
  const auto as_double = [](const std::vector<Real>& x) { return std::vector<double>(x.begin(), x.end()); };
  const auto q = as_t(q64), k = as_t(k64), v = as_t(v64), go = as_t(go64);
  // The reference sees the inputs rounded to Real, as the kernel does.
  const auto expected = reference(c, scale, as_double(q), as_double(k), as_double(v), as_double(go));
  std::vector<Real> out(q.size()), lse(B * H * T), gq(q.size(), Real(7)), gk(k.size(), Real(7)), gv(v.size(), Real(7));
  const Shape shape{B, H, KV, T, S, D, scale, c.window};
  const int saved = omp_get_max_threads();
  omp_set_num_threads(threads);
  run_forward<Real>({shape, rows_of(q.data(), H, T, D), rows_of(k.data(), KV, S, D), rows_of(v.data(), KV, S, D),
                  rows_of(out.data(), H, T, D), lse.data()});
  run_backward<Real>({shape, rows_of(q.data(), H, T, D), rows_of(k.data(), KV, S, D), rows_of(v.data(), KV, S, D),
                   rows_of<const Real>(out.data(), H, T, D), rows_of(go.data(), H, T, D), lse.data(), rows_of(gq.data(), H, T, D),
                   rows_of(gk.data(), KV, S, D), rows_of(gv.data(), KV, S, D)});
  omp_set_num_threads(saved);
  const std::string where = "B" + std::to_string(B) + " H" + std::to_string(H) + "/" + std::to_string(KV) + " T" +
                            std::to_string(T) + " S" + std::to_string(S) + " D" + std::to_string(D) + " window " +
                            std::to_string(c.window) + " threads " + std::to_string(threads) + (sizeof(Real) == 4 ? " float" : " double");
  EXPECT_LE(relative_error(out, expected.out), tolerance) << "out, " << where;
  EXPECT_LE(relative_error(lse, expected.logsumexp), tolerance) << "logsumexp, " << where;
  EXPECT_LE(relative_error(gq, expected.grad_q), tolerance) << "grad q, " << where;
  EXPECT_LE(relative_error(gk, expected.grad_k), tolerance) << "grad k, " << where;
  EXPECT_LE(relative_error(gv, expected.grad_v), tolerance) << "grad v, " << where;
}

class AttentionKernel : public ::testing::TestWithParam<Case> {};

TEST_P(AttentionKernel, MatchesFloat64Loops) {
  for (int threads : {1, 2}) {
    check<float>(GetParam(), threads, 2e-5);
    check<double>(GetParam(), threads, 1e-12);
  }
}

// Prefill (T = S) and decoding (T = 1, T = 3 after cached keys); grouped heads; windows shorter
// than the keys; head sizes with fixed-length loops (16, 64, 128) and without (24, 40).
INSTANTIATE_TEST_SUITE_P(Shapes, AttentionKernel,
                         ::testing::Values(Case{2, 4, 2, 9, 9, 16, 0}, Case{1, 4, 1, 1, 13, 64, 0}, Case{1, 6, 2, 3, 11, 24, 0},
                                           Case{2, 2, 2, 12, 12, 40, 5}, Case{1, 4, 2, 1, 20, 128, 6},
                                           Case{1, 8, 2, 17, 17, 64, 7}),
                         [](const auto& info) {
                           const auto& c = info.param;
                           return "T" + std::to_string(c.queries) + "_S" + std::to_string(c.keys) + "_D" + std::to_string(c.dim) +
                                  "_G" + std::to_string(c.heads / c.kv_heads) + "_W" + std::to_string(c.window);
                         });

}  // namespace
}  // namespace flotilla
