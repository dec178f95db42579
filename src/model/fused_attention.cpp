#include "model/fused_attention.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>

#include "kernels/attention.h"

namespace flotilla::model {

namespace {

namespace kernel = kernels::attention;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

template <typename T>
kernel::Rows<T> rows_of(const at::Tensor& t) {  // [B, heads, positions, D] with unit stride in D
  return {t.data_ptr<std::remove_const_t<T>>(), t.stride(0), t.stride(1), t.stride(2)};
}

at::ScalarType compute_dtype(const at::Tensor& t) { return t.scalar_type() == at::kDouble ? at::kDouble : at::kFloat; }

// In the compute dtype with unit stride along D (a copy only where needed).
at::Tensor prepared(const at::Tensor& t) {
  auto wide = t.to(compute_dtype(t));
  return wide.stride(3) == 1 ? wide : wide.contiguous();
}

kernel::Shape shape_of(const at::Tensor& q, const at::Tensor& k, int64_t window, double scale) {
  if (scale == 0) scale = 1.0 / std::sqrt(double(q.size(3)));
  return {q.size(0), q.size(1), k.size(1), q.size(2), k.size(2), q.size(3), scale, window};
}

// out [B, T, H, D] and logsumexp [B, H, T], both in the compute dtype.
std::pair<at::Tensor, at::Tensor> attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int64_t window,
                                         double scale) {
  const auto shape = shape_of(q, k, window, scale);
  auto out = at::empty({shape.batch, shape.queries, shape.heads, shape.dim}, q.options());
  auto logsumexp = at::empty({shape.batch, shape.heads, shape.queries}, q.options());
  auto out_rows = out.transpose(1, 2);
  AT_DISPATCH_FLOATING_TYPES(q.scalar_type(), "fused_causal_attention", [&] {
    kernel::run_forward<scalar_t>({shape, rows_of<const scalar_t>(q), rows_of<const scalar_t>(k),
                                   rows_of<const scalar_t>(v), rows_of<scalar_t>(out_rows),
                                   logsumexp.data_ptr<scalar_t>()});
  });
  return {out, logsumexp};
}

class FusedCausalAttention : public torch::autograd::Function<FusedCausalAttention> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            int64_t window, double scale) {
    auto wq = prepared(q), wk = prepared(k), wv = prepared(v);
    auto [out, logsumexp] = attend(wq, wk, wv, window, scale);
    ctx->save_for_backward({wq, wk, wv, out, logsumexp});
    ctx->saved_data["dtype"] = static_cast<int64_t>(q.scalar_type());
    ctx->saved_data["window"] = window;
    ctx->saved_data["scale"] = scale;
    return out.to(q.scalar_type());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &q = saved[0], &k = saved[1], &v = saved[2], &out = saved[3], &logsumexp = saved[4];
    auto grad_out = grads[0].to(q.scalar_type()).contiguous();
    auto grad_q = at::empty_like(q, at::MemoryFormat::Contiguous);
    auto grad_k = at::empty_like(k, at::MemoryFormat::Contiguous);
    auto grad_v = at::empty_like(v, at::MemoryFormat::Contiguous);
    const auto shape = shape_of(q, k, ctx->saved_data["window"].toInt(), ctx->saved_data["scale"].toDouble());
    AT_DISPATCH_FLOATING_TYPES(q.scalar_type(), "fused_causal_attention_backward", [&] {
      kernel::run_backward<scalar_t>({shape, rows_of<const scalar_t>(q), rows_of<const scalar_t>(k),
                                      rows_of<const scalar_t>(v), rows_of<const scalar_t>(out.transpose(1, 2)),
                                      rows_of<const scalar_t>(grad_out.transpose(1, 2)),
                                      logsumexp.data_ptr<scalar_t>(), rows_of<scalar_t>(grad_q),
                                      rows_of<scalar_t>(grad_k), rows_of<scalar_t>(grad_v)});
    });
    const auto input_dtype = static_cast<at::ScalarType>(ctx->saved_data["dtype"].toInt());
    return {grad_q.to(input_dtype), grad_k.to(input_dtype), grad_v.to(input_dtype), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

bool fused_attention_supports(at::ScalarType dtype, at::Device device) {
  return device.is_cpu() && (dtype == at::kFloat || dtype == at::kBFloat16 || dtype == at::kDouble);
}

at::Tensor fused_causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int64_t window,
                                  double scale) {
  TORCH_CHECK(q.dim() == 4 && k.dim() == 4 && v.sizes() == k.sizes() && q.size(0) == k.size(0) &&
                  q.size(3) == k.size(3) && k.size(1) > 0 && q.size(1) % k.size(1) == 0 && q.size(2) <= k.size(2),
              "fused_causal_attention: q ", q.sizes(), " and k/v ", k.sizes(), " do not fit [B,H,T,D] / [B,KV,S,D]");
  TORCH_CHECK(fused_attention_supports(q.scalar_type(), q.device()), "fused_causal_attention: unsupported ",
              q.scalar_type(), " on ", q.device());
  const bool recording = at::GradMode::is_enabled() && (q.requires_grad() || k.requires_grad() || v.requires_grad());
  TORCH_CHECK(window >= 0 && scale >= 0, "fused_causal_attention: window ", window, " or scale ", scale, " is negative");
  if (!recording) return attend(prepared(q), prepared(k), prepared(v), window, scale).first.to(q.scalar_type());  // decoding
  return FusedCausalAttention::apply(q, k, v, window, scale);
}

}  // namespace flotilla::model
