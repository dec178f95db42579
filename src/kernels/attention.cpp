#include "kernels/attention.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#if defined(__SSE__)
#include <xmmintrin.h>
#endif

// The float units are compiled for several instruction sets and picked at load time, so a
// portable binary still runs the loops below in AVX-512 or AVX2 where the CPU has them.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define FLOTILLA_ISA_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define FLOTILLA_ISA_CLONES
#endif
#define FLOTILLA_INLINE inline __attribute__((always_inline))
#pragma GCC diagnostic ignored "-Wpsabi"  // vector types passed inside always-inlined helpers only

namespace flotilla::kernels::attention {

namespace {

constexpr int64_t kRowBlock = 4;  // query rows sharing each pass over the keys
constexpr int kLanes = 16;        // independent partial sums, so reductions vectorise

// e^x for x <= 0 (Cephes' expf: range reduction by ln 2 and a degree-6 polynomial, ~1 ulp),
// written without branches or calls so the loops around it vectorise.
FLOTILLA_INLINE float exp_nonpositive(float x) {
  x = std::max(x, -87.0f);
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round to nearest
  const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float two_n;
  std::memcpy(&two_n, &bits, sizeof two_n);
  return p * two_n;
}

FLOTILLA_INLINE double exp_nonpositive(double x) { return std::exp(x); }

FLOTILLA_INLINE int64_t round_up(int64_t n) { return (n + kLanes - 1) / kLanes * kLanes; }

template <typename T>
FLOTILLA_INLINE T dot(const T* a, const T* b, int64_t n) {
  T part[kLanes] = {};
  int64_t c = 0;
  for (; c + kLanes <= n; c += kLanes)
    for (int l = 0; l < kLanes; ++l) part[l] += a[c + l] * b[c + l];
  T sum = 0;
  for (; c < n; ++c) sum += a[c] * b[c];
  for (int l = 0; l < kLanes; ++l) sum += part[l];
  return sum;
}

template <typename T>
FLOTILLA_INLINE void axpy(T alpha, const T* x, T* y, int64_t n) {
#pragma GCC ivdep
  for (int64_t c = 0; c < n; ++c) y[c] += alpha * x[c];
}

template <typename T>
FLOTILLA_INLINE T max_of(const T* x, int64_t n) {
  T part[kLanes];
  std::fill(part, part + kLanes, x[0]);
  int64_t c = 0;
  for (; c + kLanes <= n; c += kLanes)
    for (int l = 0; l < kLanes; ++l) part[l] = std::max(part[l], x[c + l]);
  T best = x[0];
  for (; c < n; ++c) best = std::max(best, x[c]);
  for (int l = 0; l < kLanes; ++l) best = std::max(best, part[l]);
  return best;
}

// x[c] = e^(x[c] - shift) for c < n; returns the sum.
template <typename T>
FLOTILLA_INLINE T exp_shifted(T* x, int64_t n, T shift) {
  T part[kLanes] = {};
  int64_t c = 0;
  for (; c + kLanes <= n; c += kLanes)
    for (int l = 0; l < kLanes; ++l) part[l] += (x[c + l] = exp_nonpositive(x[c + l] - shift));
  T sum = 0;
  for (; c < n; ++c) sum += (x[c] = exp_nonpositive(x[c] - shift));
  for (int l = 0; l < kLanes; ++l) sum += part[l];
  return sum;
}

// One unit's rows (keys or values) transposed to [D][W] (W = S rounded up to whole vectors,
// zero beyond S), so the score loops run along the keys without remainders.
template <typename T>
std::vector<T> transposed(const Rows<const T>& rows, int64_t b, int64_t j, int64_t S, int64_t D) {
  const int64_t W = round_up(S);
  std::vector<T> out(D * W, T(0));
  for (int64_t s = 0; s < S; ++s) {
    const T* row = rows.row(b, j, s);
    for (int64_t d = 0; d < D; ++d) out[d * W + s] = row[d];
  }
  return out;
}

// kLanes values in one GCC/Clang vector (one AVX-512 register for float), unaligned loads/stores.
template <typename T>
struct Lanes {
  typedef T type __attribute__((vector_size(kLanes * sizeof(T))));
  static FLOTILLA_INLINE type load(const T* p) {
    type v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  static FLOTILLA_INLINE void store(T* p, type v) { std::memcpy(p, &v, sizeof v); }
};

// out[r][c] = alpha · Σ_d rows[r][d] · mt[d][c] for c < n, n a multiple of kLanes (mt is [D][W]).
// Tiles of kRowBlock rows × kLanes keys are summed in vector registers.
template <typename T, int kDim>
FLOTILLA_INLINE void rows_times(const T* const* rows, int64_t count, const T* mt, int64_t W, int64_t D, int64_t n,
                                T alpha, T* out) {
  static_assert(kRowBlock == 4, "one tile per row below");
  using V = typename Lanes<T>::type;
  const int64_t dim = kDim > 0 ? kDim : D;
  const T* r0 = rows[0];
  const T* r1 = rows[std::min<int64_t>(1, count - 1)];
  const T* r2 = rows[std::min<int64_t>(2, count - 1)];
  const T* r3 = rows[std::min<int64_t>(3, count - 1)];
  for (int64_t c0 = 0; c0 < n; c0 += kLanes) {
    V t0 = {}, t1 = {}, t2 = {}, t3 = {};
    for (int64_t d = 0; d < dim; ++d) {
      const V keys = Lanes<T>::load(mt + d * W + c0);
      t0 += r0[d] * keys;
      t1 += r1[d] * keys;
      t2 += r2[d] * keys;
      t3 += r3[d] * keys;
    }
    const V* tiles[kRowBlock] = {&t0, &t1, &t2, &t3};
    for (int64_t r = 0; r < count; ++r) Lanes<T>::store(out + r * W + c0, alpha * *tiles[r]);
  }
}

// out[0..D) = alpha · Σ_{c<n} w[c] · row(c)[0..D). With D fixed at compile time the sums stay in
// registers, several rows at a time, instead of round-tripping through memory for every c.
template <typename T, int kDim, typename RowAt>
FLOTILLA_INLINE void weighted_rows(const T* w, int64_t n, RowAt row, T alpha, T* out, int64_t D) {
  if constexpr (kDim > 0) {
    constexpr int kUnroll = kDim >= 128 ? 1 : kDim >= 64 ? 2 : 4;
    T acc[kUnroll][kDim] = {};
    int64_t c = 0;
    for (; c + kUnroll <= n; c += kUnroll)
      for (int u = 0; u < kUnroll; ++u) {
        const T* x = row(c + u);
        for (int d = 0; d < kDim; ++d) acc[u][d] += w[c + u] * x[d];
      }
    for (; c < n; ++c) {
      const T* x = row(c);
      for (int d = 0; d < kDim; ++d) acc[0][d] += w[c] * x[d];
    }
    for (int d = 0; d < kDim; ++d) {
      T sum = 0;
      for (int u = 0; u < kUnroll; ++u) sum += acc[u][d];
      out[d] = alpha * sum;
    }
  } else {
    std::fill(out, out + D, T(0));
    for (int64_t c = 0; c < n; ++c) axpy(w[c], row(c), out, D);
    for (int64_t d = 0; d < D; ++d) out[d] *= alpha;
  }
}

// y[0..D) += Σ_r alpha[r] · rows[r][0..D) over a block's rows.
template <typename T, int kDim>
FLOTILLA_INLINE void add_weighted_rows(const T* alpha, int64_t alpha_stride, const T* const* rows, int64_t count, T* y,
                                       int64_t D) {
  if constexpr (kDim > 0 && kDim <= 32) {  // short rows: sum in registers
    T acc[kDim];
    for (int d = 0; d < kDim; ++d) acc[d] = y[d];
    for (int64_t r = 0; r < count; ++r)
      for (int d = 0; d < kDim; ++d) acc[d] += alpha[r * alpha_stride] * rows[r][d];
    for (int d = 0; d < kDim; ++d) y[d] = acc[d];
  } else if constexpr (kDim > 0) {
    for (int64_t r = 0; r < count; ++r) {
      const T a = alpha[r * alpha_stride];
      const T* x = rows[r];
#pragma GCC ivdep
      for (int d = 0; d < kDim; ++d) y[d] += a * x[d];
    }
  } else {
    for (int64_t r = 0; r < count; ++r) axpy(alpha[r * alpha_stride], rows[r], y, D);
  }
}

// The query rows of one block: positions t0..t0+count-1 of one head; row r sees keys first(r)..visible(r)-1.
struct RowBlock {
  int64_t t0, count, offset, window;
  int64_t visible(int64_t r) const { return offset + t0 + r + 1; }
  int64_t first(int64_t r) const { return window > 0 ? std::max<int64_t>(0, visible(r) - window) : 0; }
  int64_t widest() const { return visible(count - 1); }
  int64_t lowest() const { return first(0) / kLanes * kLanes; }  // where score tiles start
};

template <typename T, int kDim>
FLOTILLA_INLINE void forward_unit(const Forward<T>& p, int64_t unit) {
  const Shape& s = p.shape;
  const int64_t G = s.heads / s.kv_heads, S = s.keys, D = kDim > 0 ? kDim : s.dim;
  const int64_t b = unit / s.kv_heads, j = unit % s.kv_heads;
  const int64_t W = round_up(S);
  const auto keys_t = transposed(p.k, b, j, S, D);  // the output reads values row by row
  std::vector<T> probs(kRowBlock * W);
  const T* q_rows[kRowBlock];
  for (int64_t g = 0; g < G; ++g) {
    const int64_t h = j * G + g;
    for (int64_t t0 = 0; t0 < s.queries; t0 += kRowBlock) {
      const RowBlock block{t0, std::min(kRowBlock, s.queries - t0), S - s.queries, s.window};
      const int64_t lo = block.lowest();
      for (int64_t r = 0; r < block.count; ++r) q_rows[r] = p.q.row(b, h, t0 + r);
      rows_times<T, kDim>(q_rows, block.count, keys_t.data() + lo, W, D, round_up(block.widest()) - lo, T(s.scale),
                          probs.data() + lo);
      for (int64_t r = 0; r < block.count; ++r) {
        const int64_t f = block.first(r), n = block.visible(r) - f;
        T* pr = probs.data() + r * W + f;
        const T m = max_of(pr, n);
        const T sum = exp_shifted(pr, n, m);
        weighted_rows<T, kDim>(pr, n, [&](int64_t c) { return p.v.row(b, j, f + c); }, T(1) / sum, p.out.row(b, h, t0 + r), D);
        p.logsumexp[(b * s.heads + h) * s.queries + t0 + r] = m + std::log(sum);
      }
    }
  }
}

template <typename T, int kDim>
FLOTILLA_INLINE void backward_unit(const Backward<T>& p, int64_t unit) {
  const Shape& s = p.shape;
  const int64_t G = s.heads / s.kv_heads, S = s.keys, D = kDim > 0 ? kDim : s.dim;
  const int64_t b = unit / s.kv_heads, j = unit % s.kv_heads;
  const T scale = T(s.scale);
  const int64_t W = round_up(S);
  const auto keys_t = transposed(p.k, b, j, S, D), values_t = transposed(p.v, b, j, S, D);
  for (int64_t c = 0; c < S; ++c) {
    std::fill(p.grad_k.row(b, j, c), p.grad_k.row(b, j, c) + D, T(0));
    std::fill(p.grad_v.row(b, j, c), p.grad_v.row(b, j, c) + D, T(0));
  }
  std::vector<T> probs(kRowBlock * W), grad_scores(kRowBlock * W);
  const T *q_rows[kRowBlock], *grad_out_rows[kRowBlock];
  for (int64_t g = 0; g < G; ++g) {
    const int64_t h = j * G + g;
    for (int64_t t0 = 0; t0 < s.queries; t0 += kRowBlock) {
      const RowBlock block{t0, std::min(kRowBlock, s.queries - t0), S - s.queries, s.window};
      const int64_t widest = block.widest(), lo = block.lowest(), padded = round_up(widest) - lo;
      for (int64_t r = 0; r < block.count; ++r) {
        q_rows[r] = p.q.row(b, h, t0 + r);
        grad_out_rows[r] = p.grad_out.row(b, h, t0 + r);
      }
      rows_times<T, kDim>(q_rows, block.count, keys_t.data() + lo, W, D, padded, scale, probs.data() + lo);
      rows_times<T, kDim>(grad_out_rows, block.count, values_t.data() + lo, W, D, padded, T(1), grad_scores.data() + lo);
      // P = e^(S - L), zero outside each row's keys; dS = P ∘ (dP - rowsum(dO ∘ O)).
      for (int64_t r = 0; r < block.count; ++r) {
        T* pr = probs.data() + r * W;
        T* dsr = grad_scores.data() + r * W;
        const int64_t f = block.first(r), n = block.visible(r);
        exp_shifted(pr + f, n - f, p.logsumexp[(b * s.heads + h) * s.queries + t0 + r]);
        std::fill(pr + lo, pr + f, T(0));
        std::fill(pr + n, pr + widest, T(0));
        const T centre = dot(grad_out_rows[r], static_cast<const T*>(p.out.row(b, h, t0 + r)), D);
        for (int64_t c = lo; c < widest; ++c) dsr[c] = pr[c] * (dsr[c] - centre);
        weighted_rows<T, kDim>(dsr + f, n - f, [&](int64_t c) { return p.k.row(b, j, f + c); }, scale,
                               p.grad_q.row(b, h, t0 + r), D);
      }
      // The scale of dK is applied once at the end.
      for (int64_t c = lo; c < widest; ++c) {
        add_weighted_rows<T, kDim>(probs.data() + c, W, grad_out_rows, block.count, p.grad_v.row(b, j, c), D);
        add_weighted_rows<T, kDim>(grad_scores.data() + c, W, q_rows, block.count, p.grad_k.row(b, j, c), D);
      }
    }
  }
  for (int64_t c = 0; c < S; ++c)
    for (int64_t d = 0; d < D; ++d) p.grad_k.row(b, j, c)[d] *= scale;
}

// Subnormal floats (below 1.2e-38, e.g. a vanishing probability times a small gradient) cost
// x86 cores a microcode assist per operation (measured: backward 2-24x slower); flush them here,
// on ARM64 too (FPCR.FZ) so both compute the same.
class FlushSubnormals {
 public:
#if defined(__SSE__)
  FlushSubnormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | kFlushToZero | kDenormalsAreZero); }
  ~FlushSubnormals() { _mm_setcsr(saved_); }

 private:
  static constexpr unsigned kFlushToZero = 0x8000, kDenormalsAreZero = 0x0040;
  unsigned saved_;
#elif defined(__aarch64__)
  FlushSubnormals() {
    __asm__ volatile("mrs %0, fpcr" : "=r"(saved_));
    __asm__ volatile("msr fpcr, %0" : : "r"(saved_ | kFlushToZero));
  }
  ~FlushSubnormals() { __asm__ volatile("msr fpcr, %0" : : "r"(saved_)); }

 private:
  static constexpr uint64_t kFlushToZero = uint64_t{1} << 24;  // FPCR.FZ: subnormal inputs and results are zero
  uint64_t saved_;
#endif
};

// Head dimensions of real models get loops of fixed length; others take the general path.
template <typename T, template <typename, int> class Unit, typename Problem>
FLOTILLA_INLINE void by_head_dim(const Problem& p, int64_t unit) {
  switch (p.shape.dim) {
    case 8: return Unit<T, 8>::run(p, unit);
    case 16: return Unit<T, 16>::run(p, unit);
    case 32: return Unit<T, 32>::run(p, unit);
    case 64: return Unit<T, 64>::run(p, unit);
    case 128: return Unit<T, 128>::run(p, unit);
    default: return Unit<T, 0>::run(p, unit);
  }
}

template <typename T, int kDim>
struct ForwardUnit {
  static FLOTILLA_INLINE void run(const Forward<T>& p, int64_t unit) { forward_unit<T, kDim>(p, unit); }
};
template <typename T, int kDim>
struct BackwardUnit {
  static FLOTILLA_INLINE void run(const Backward<T>& p, int64_t unit) { backward_unit<T, kDim>(p, unit); }
};

FLOTILLA_ISA_CLONES void forward_unit_float(const Forward<float>& p, int64_t unit) {
  const FlushSubnormals flush;
  by_head_dim<float, ForwardUnit>(p, unit);
}
FLOTILLA_ISA_CLONES void backward_unit_float(const Backward<float>& p, int64_t unit) {
  const FlushSubnormals flush;
  by_head_dim<float, BackwardUnit>(p, unit);
}
void forward_unit_double(const Forward<double>& p, int64_t unit) { forward_unit<double, 0>(p, unit); }
void backward_unit_double(const Backward<double>& p, int64_t unit) { backward_unit<double, 0>(p, unit); }

void forward_unit_any(const Forward<float>& p, int64_t unit) { forward_unit_float(p, unit); }
void forward_unit_any(const Forward<double>& p, int64_t unit) { forward_unit_double(p, unit); }
void backward_unit_any(const Backward<float>& p, int64_t unit) { backward_unit_float(p, unit); }
void backward_unit_any(const Backward<double>& p, int64_t unit) { backward_unit_double(p, unit); }

// Units per thread such that each thread gets at least ~64K multiply-adds: waking a second
// thread costs more than one decoding step's attention of a small model.
int64_t units_per_thread(const Shape& s) {
  const int64_t per_unit = (s.heads / s.kv_heads) * s.queries * s.keys * s.dim;
  return std::max<int64_t>(1, (int64_t{1} << 16) / std::max<int64_t>(1, per_unit));
}

// Runs unit(0..units) on the OpenMP threads (libtorch's intra-op threads where it uses OpenMP),
// no more threads than have units_per_thread units each.
template <typename Unit>
void for_each_unit(const Shape& shape, const Unit& unit) {
  const int64_t units = shape.batch * shape.kv_heads, per_thread = units_per_thread(shape);
  const int threads = static_cast<int>(std::min<int64_t>(omp_get_max_threads(), (units + per_thread - 1) / per_thread));
  if (threads <= 1 || omp_in_parallel()) {  // no OpenMP region at all: even a one-thread team costs a set-up
    for (int64_t u = 0; u < units; ++u) unit(u);
    return;
  }
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t u = 0; u < units; ++u) unit(u);
}

}  // namespace

template <typename T>
void run_forward(const Forward<T>& problem) {
  for_each_unit(problem.shape, [&](int64_t unit) { forward_unit_any(problem, unit); });
}

template <typename T>
void run_backward(const Backward<T>& problem) {
  for_each_unit(problem.shape, [&](int64_t unit) { backward_unit_any(problem, unit); });
}

template void run_forward<float>(const Forward<float>&);
template void run_forward<double>(const Forward<double>&);
template void run_backward<float>(const Backward<float>&);
template void run_backward<double>(const Backward<double>&);

}  // namespace flotilla::kernels::attention
