// The fused causal attention kernel against a naive path written here with plain ATen ops
// (keys/values repeated per query head, an explicit mask, softmax in float64): outputs and
// all three input gradients, in float64, float32 and bfloat16, over shapes that exercise GQA,
// a cache offset, one-token decoding, head sizes with and without a specialised loop, lengths that
// are not multiples of the kernel's row blocks or vector lanes, and sliding windows.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <limits>

#include "model/fused_attention.h"
#include "model/loader.h"
#include "support/golden.h"
#include "support/paths.h"

using namespace flotilla::model;
using namespace flotilla::io;

namespace flotilla {
namespace {

using test::expect_close;

struct Shape {
  int64_t batch, heads, kv_heads, queries, keys, dim;
  int64_t window = 0;
};

// [B, T, H, D], computed in float64 from q [B, H, T, D] and k, v [B, KV, S, D].
at::Tensor naive_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int64_t window) {
  const int64_t G = q.size(1) / k.size(1), T = q.size(2), S = k.size(2);
  auto kk = k.to(at::kDouble).repeat_interleave(G, 1), vv = v.to(at::kDouble).repeat_interleave(G, 1);
  auto scores = at::matmul(q.to(at::kDouble), kk.transpose(-1, -2)) / std::sqrt(double(q.size(3)));
  auto visible = at::ones({T, S}, at::kBool).tril(S - T);  // query t sees keys <= S - T + t
  if (window > 0) visible = visible.logical_and(at::ones({T, S}, at::kBool).triu(S - T - window + 1));  // and > S-T+t-W
  scores = scores.masked_fill(visible.logical_not(), -std::numeric_limits<double>::infinity());
  return at::matmul(at::softmax(scores, -1), vv).transpose(1, 2);
}

struct Inputs {
  at::Tensor q, k, v, weights;  // weights: a random cotangent, so every output element matters
};

Inputs random_inputs(const Shape& s, at::ScalarType dtype, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto draw = [&](at::IntArrayRef sizes) { return at::randn(sizes, gen, at::TensorOptions().dtype(at::kDouble)); };
  Inputs in;
  in.q = draw({s.batch, s.heads, s.queries, s.dim}).to(dtype);
  in.k = draw({s.batch, s.kv_heads, s.keys, s.dim}).to(dtype);
  // Values as the model makes them: a transposed view of [B, S, KV, D].
  in.v = draw({s.batch, s.keys, s.kv_heads, s.dim}).to(dtype).transpose(1, 2);
  in.weights = draw({s.batch, s.queries, s.heads, s.dim});
  return in;
}

struct Result {
  at::Tensor out, grad_q, grad_k, grad_v;
};

template <typename Attention>
Result run(const Inputs& in, Attention attention) {
  auto q = in.q.detach().requires_grad_(), k = in.k.detach().requires_grad_(), v = in.v.detach().requires_grad_();
  auto out = attention(q, k, v);
  (out.to(at::kDouble) * in.weights).sum().backward();
  return {out.detach(), q.grad(), k.grad(), v.grad()};
}

void expect_same(const Shape& s, at::ScalarType dtype, double tolerance) {
  const auto in = random_inputs(s, dtype, 7 + s.queries + s.dim);
  const auto fused = run(in, [&](auto q, auto k, auto v) { return fused_causal_attention(q, k, v, s.window); });
  const auto naive = run(in, [&](auto q, auto k, auto v) { return naive_attention(q, k, v, s.window); });
  const std::string what = fmt::format("B{} H{} KV{} T{} S{} D{} W{} {}", s.batch, s.heads, s.kv_heads, s.queries, s.keys,
                                       s.dim, s.window, c10::toString(dtype));
  EXPECT_EQ(fused.out.scalar_type(), dtype);
  EXPECT_EQ(fused.grad_q.scalar_type(), dtype);
  expect_close(fused.out, naive.out, tolerance, what + " output");
  expect_close(fused.grad_q, naive.grad_q, tolerance, what + " dq");
  expect_close(fused.grad_k, naive.grad_k, tolerance, what + " dk");
  expect_close(fused.grad_v, naive.grad_v, tolerance, what + " dv");
}

const std::vector<Shape> kShapes = {
    {2, 8, 4, 37, 37, 8},    // stories260K's heads, GQA, T not a multiple of 4 or 16
    {1, 4, 4, 5, 21, 12},    // after 16 cached tokens; a head size without a specialised loop
    {3, 6, 2, 1, 9, 64},     // one-token decoding over a cache
    {1, 2, 1, 70, 70, 16},   // groups of 2 query heads on one key/value head
    {1, 2, 2, 33, 33, 128},  // the widest specialised head size
    // Sliding windows: narrower than a row block, after cached tokens, over a decoding cache,
    // wider than a vector of keys, and a query that sees only itself.
    {2, 8, 4, 37, 37, 8, 3},
    {1, 4, 4, 5, 21, 12, 7},
    {3, 6, 2, 1, 9, 64, 4},
    {1, 2, 1, 70, 70, 16, 33},
    {1, 2, 2, 33, 33, 128, 1},
};

TEST(FusedAttention, Float64EqualsTheNaivePath) {
  for (const auto& s : kShapes) expect_same(s, at::kDouble, 1e-12);
}

// float32 sums and Cephes' expf (~1 ulp) against float64: errors of a few float32 ulps of the
// magnitudes involved (outputs ~1, gradients up to ~10): measured at most 3.4e-6.
TEST(FusedAttention, Float32StaysWithinFloat32Rounding) {
  for (const auto& s : kShapes) expect_same(s, at::kFloat, 1e-5);
}

// bfloat16 in and out (float32 inside): the results' own rounding (8 bits) dominates: measured
// at most 1.6e-2 on values up to ~4.
TEST(FusedAttention, Bfloat16StaysWithinBfloat16Rounding) {
  for (const auto& s : kShapes) expect_same(s, at::kBFloat16, 3e-2);
}

// A window shorter than the sequence changes the result: the test above cannot pass by ignoring it.
TEST(FusedAttention, WindowHidesOlderKeys) {
  const auto in = random_inputs({1, 2, 2, 20, 20, 16}, at::kDouble, 5);
  const double moved = (fused_causal_attention(in.q, in.k, in.v, 4) - fused_causal_attention(in.q, in.k, in.v)).abs().max().item<double>();
  EXPECT_GT(moved, 1e-2);
  EXPECT_THROW(fused_causal_attention(in.q, in.k, in.v, -1), c10::Error);
}

TEST(FusedAttention, RejectsShapesThatDoNotFit) {
  auto q = at::randn({1, 3, 4, 8}), k = at::randn({1, 2, 4, 8});
  EXPECT_THROW(fused_causal_attention(q, k, k), c10::Error);                          // 3 heads over 2
  EXPECT_THROW(fused_causal_attention(at::randn({1, 2, 5, 8}), k, k), c10::Error);    // more queries than keys
  EXPECT_THROW(fused_causal_attention(q.to(at::kHalf), k, k), c10::Error);            // unsupported dtype
}

// The model uses the kernel when there is no padding mask and the masked ATen path otherwise;
// an all-ones mask must change nothing, in the logits and in the gradients of what is trained.
TEST(FusedAttention, ModelLogitsAndGradientsMatchTheMaskedPath) {
  LoadOptions options;
  options.dtype = at::kDouble;
  auto m = load_model((test::stories_dir() / "hf").string(), options);
  auto tokens = at::randint(1, m.config.vocab_size, {2, 45}, at::kLong);
  std::vector<at::Tensor> grads;
  std::vector<at::Tensor> logits;
  for (bool masked : {false, true}) {
    ForwardOptions forward;
    if (masked) forward.attention_mask = at::ones_like(tokens);
    for (auto& p : m.model->parameters()) p.mutable_grad() = at::Tensor();
    auto q_weight = m.model->layers[2]->as<BlockImpl>()->self_attn->q_proj->named_parameters()["weight"];
    q_weight.requires_grad_(true);
    auto out = m.model->forward(tokens, forward);
    out.pow(2).mean().backward();
    logits.push_back(out.detach());
    grads.push_back(q_weight.grad().clone());
    q_weight.requires_grad_(false);
  }
  expect_close(logits[0], logits[1], 1e-12, "stories260K float64 logits, fused vs masked");
  expect_close(grads[0], grads[1], 1e-12, "stories260K float64 q_proj gradient, fused vs masked");
  EXPECT_GT(grads[0].abs().max().item<double>(), 1e-6);
}

}  // namespace
}  // namespace flotilla
