#include "model/llama.h"

#include <ATen/ATen.h>

#include <limits>

#include "model/fused_attention.h"
#include "model/recompute.h"

using namespace flotilla::io;

namespace flotilla::model {

RMSNormImpl::RMSNormImpl(at::Tensor weight, double eps) : eps_(eps) {
  weight_ = register_parameter("weight", weight, /*requires_grad=*/false);
}

at::Tensor RMSNormImpl::forward(const at::Tensor& x) {
  // Normalise in at least float32 whatever the compute dtype, as the Hugging Face reference does.
  auto wide = x.to(at::promote_types(x.scalar_type(), at::kFloat));
  auto normed = wide * at::rsqrt(wide.pow(2).mean(-1, /*keepdim=*/true) + eps_);
  return weight_ * normed.to(x.scalar_type());
}

AttentionImpl::AttentionImpl(const ModelConfig& c, const std::string& prefix, WeightReader& w, at::ScalarType dtype)
    : heads_(c.num_attention_heads), kv_heads_(c.num_key_value_heads), head_dim_(c.head_dim), window_(c.sliding_window) {
  const int64_t C = c.hidden_size, q_out = heads_ * head_dim_, kv_out = kv_heads_ * head_dim_;
  q_proj = register_module("q_proj", Linear(prefix + ".q_proj", C, q_out, w.linear(prefix + ".q_proj", c.attention_bias), dtype));
  k_proj = register_module("k_proj", Linear(prefix + ".k_proj", C, kv_out, w.linear(prefix + ".k_proj", c.attention_bias), dtype));
  v_proj = register_module("v_proj", Linear(prefix + ".v_proj", C, kv_out, w.linear(prefix + ".v_proj", c.attention_bias), dtype));
  o_proj = register_module("o_proj", Linear(prefix + ".o_proj", q_out, C, w.linear(prefix + ".o_proj", c.o_proj_bias), dtype));
  if (c.qk_norm) {
    q_norm = register_module("q_norm", RMSNorm(w.dense(prefix + ".q_norm.weight", {head_dim_}), c.rms_norm_eps));
    k_norm = register_module("k_norm", RMSNorm(w.dense(prefix + ".k_norm.weight", {head_dim_}), c.rms_norm_eps));
  }
}

at::Tensor AttentionImpl::forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                                  const at::Tensor& mask, KVCache* cache, int64_t layer) {
  const int64_t B = x.size(0), T = x.size(1), G = heads_ / kv_heads_;
  auto q = q_proj->forward(x).view({B, T, heads_, head_dim_});
  auto k = k_proj->forward(x).view({B, T, kv_heads_, head_dim_});
  if (q_norm) q = q_norm->forward(q), k = k_norm->forward(k);
  q = q.transpose(1, 2), k = k.transpose(1, 2);
  auto v = v_proj->forward(x).view({B, T, kv_heads_, head_dim_}).transpose(1, 2);
  q = apply_rotary(q, cos, sin);
  k = apply_rotary(k, cos, sin);
  if (cache) std::tie(k, v) = cache->append(layer, k, v);
  // Without a padding mask the causal mask lives in the fused kernel (no T×S scores in memory);
  // elsewhere only a single query may come without a mask (it sees every key).
  if (!mask.defined() && fused_attention_supports(q.scalar_type(), q.device()))
    return o_proj->forward(fused_causal_attention(q, k, v, window_).reshape({B, T, heads_ * head_dim_}));
  TORCH_CHECK(mask.defined() || T == 1, "attention: ", T, " queries in ", q.scalar_type(), " on ", q.device(),
              " need a causal mask");
  const int64_t S = k.size(2);
  // Query heads h = j*G + g share key/value head j: fold the G query heads into the time axis
  // so keys and values are used in place instead of being repeated G times.
  // Scaling q (T·D values) is cheaper than scaling the scores (T·S values).
  auto grouped_q = (q * (1.0 / std::sqrt(static_cast<double>(head_dim_)))).reshape({B, kv_heads_, G * T, head_dim_});
  auto scores = at::matmul(grouped_q, k.transpose(-1, -2));
  // Out of place: an in-place add on this view makes autograd copy the whole score gradient.
  if (mask.defined()) scores = (scores.view({B, kv_heads_, G, T, S}) + mask).view({B, kv_heads_, G * T, S});
  // Softmax in at least float32; float32 and float64 scores need no conversion.
  const bool wide = scores.scalar_type() == at::kFloat || scores.scalar_type() == at::kDouble;
  auto probs = wide ? at::softmax(scores, -1) : at::softmax(scores, -1, at::kFloat).to(v.scalar_type());
  auto out = at::matmul(probs, v).view({B, heads_, T, head_dim_}).transpose(1, 2).reshape({B, T, heads_ * head_dim_});
  return o_proj->forward(out);
}

MLPImpl::MLPImpl(const ModelConfig& c, const std::string& prefix, WeightReader& w, at::ScalarType dtype) {
  const int64_t C = c.hidden_size, F = c.intermediate_size;
  gate_proj = register_module("gate_proj", Linear(prefix + ".gate_proj", C, F, w.linear(prefix + ".gate_proj", c.mlp_bias), dtype));
  up_proj = register_module("up_proj", Linear(prefix + ".up_proj", C, F, w.linear(prefix + ".up_proj", c.mlp_bias), dtype));
  down_proj = register_module("down_proj", Linear(prefix + ".down_proj", F, C, w.linear(prefix + ".down_proj", c.mlp_bias), dtype));
}

at::Tensor MLPImpl::forward(const at::Tensor& x) {
  return down_proj->forward(at::silu(gate_proj->forward(x)) * up_proj->forward(x));
}

BlockImpl::BlockImpl(const ModelConfig& c, int64_t layer, WeightReader& w, at::ScalarType dtype) : layer_(layer) {
  const std::string prefix = "model.layers." + std::to_string(layer);
  input_layernorm = register_module(
      "input_layernorm", RMSNorm(w.dense(prefix + ".input_layernorm.weight", {c.hidden_size}), c.rms_norm_eps));
  self_attn = register_module("self_attn", Attention(c, prefix + ".self_attn", w, dtype));
  post_attention_layernorm = register_module(
      "post_attention_layernorm",
      RMSNorm(w.dense(prefix + ".post_attention_layernorm.weight", {c.hidden_size}), c.rms_norm_eps));
  mlp = register_module("mlp", MLP(c, prefix + ".mlp", w, dtype));
}

at::Tensor BlockImpl::forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                              const at::Tensor& mask, KVCache* cache) {
  auto h = x + self_attn->forward(input_layernorm->forward(x), cos, sin, mask, cache, layer_);
  return h + mlp->forward(post_attention_layernorm->forward(h));
}

LlamaModelImpl::LlamaModelImpl(const ModelConfig& c, WeightReader& w, at::ScalarType dtype)
    : config_(c), dtype_(dtype), rotary_(std::make_shared<RotaryTable>(c)) {
  embed_tokens = register_module(
      "embed_tokens", Linear("model.embed_tokens", c.hidden_size, c.vocab_size, w.linear("model.embed_tokens", false), dtype));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) layers->push_back(Block(c, i, w, dtype));
  norm = register_module("norm", RMSNorm(w.dense("model.norm.weight", {c.hidden_size}), c.rms_norm_eps));
  if (c.tie_word_embeddings) {
    lm_head = embed_tokens;
    if (w.contains("lm_head.weight")) w.ignore("lm_head.weight");  // some exports keep a redundant copy
  } else {
    lm_head = register_module("lm_head", Linear("lm_head", c.hidden_size, c.vocab_size, w.linear("lm_head", false), dtype));
  }
}

at::Device LlamaModelImpl::device() const { return norm->parameters().front().device(); }

namespace {

// Additive mask [B, 1, 1, T, S]: query i (after `offset` held keys) sees key j <= offset+i that is not
// padding, is visible and lies within the window (if any). Large finite negatives keep fully padded
// rows free of NaN.
at::Tensor build_mask(int64_t B, int64_t T, int64_t offset, const at::Tensor& attention_mask, const at::Tensor& visible,
                      int64_t window, at::ScalarType dtype, at::Device device) {
  const int64_t S = offset + T;
  auto query_pos = at::arange(offset, S, at::TensorOptions().dtype(at::kLong).device(device)).view({T, 1});
  auto key_pos = at::arange(S, at::TensorOptions().dtype(at::kLong).device(device)).view({1, S});
  auto allowed = key_pos <= query_pos;
  if (window > 0) allowed = at::logical_and(allowed, key_pos > query_pos - window);
  allowed = allowed.view({1, T, S});
  if (attention_mask.defined()) allowed = at::logical_and(allowed, attention_mask.to(device).to(at::kBool).view({B, 1, S}));
  if (visible.defined()) allowed = at::logical_and(allowed, visible.to(device).to(at::kBool).view({1, T, S}));
  const double lowest = dtype == at::kBFloat16 ? -1e30 : std::numeric_limits<float>::lowest() / 2;
  auto zero = at::zeros({}, at::TensorOptions().dtype(dtype).device(device));
  return at::where(allowed, zero, at::full({}, lowest, zero.options())).view({allowed.size(0), 1, 1, T, S});
}

bool has_trainable_parameters(const torch::nn::Module& module) {
  for (const auto& p : module.parameters())
    if (p.requires_grad()) return true;
  return false;
}

}  // namespace

at::Tensor LlamaModelImpl::forward(const at::Tensor& tokens, const ForwardOptions& options) {
  const int64_t B = tokens.size(0), T = tokens.size(1);
  const int64_t offset = options.cache ? options.cache->length() : 0;
  const int64_t held = options.cache ? options.cache->seen_before(T) : 0;  // fewer once a rotating cache wrapped
  auto positions = options.positions;
  int64_t max_position = offset + T - 1;  // known without a reduction on the default path
  if (positions.defined()) max_position = positions.max().item<int64_t>();
  else positions = at::arange(offset, offset + T, tokens.options().dtype(at::kLong)).unsqueeze(0).expand({B, T});
  auto [cos, sin] = rotary_->lookup(positions, max_position, dtype_);
  at::Tensor mask;
  // One query sees every held key unless a window hides some; then, or for several, the fused
  // kernel applies causality and the window, or a mask must.
  const bool windowed = config_.sliding_window > 0 && held + T > config_.sliding_window;
  if (options.attention_mask.defined() || options.visible.defined() ||
      ((T > 1 || windowed) && !fused_attention_supports(dtype_, tokens.device())))
    mask = build_mask(B, T, held, options.attention_mask, options.visible, config_.sliding_window, dtype_, tokens.device());

  auto h = embed_tokens->embed(tokens);
  const bool recompute = gradient_checkpointing_ && is_training() && !options.cache;
  for (const auto& layer : *layers) {
    auto block = std::static_pointer_cast<BlockImpl>(layer);
    // Only blocks with something to train can need their activations in backward.
    if (recompute && (h.requires_grad() || has_trainable_parameters(*block)))
      h = recompute_in_backward([=](const at::Tensor& x) { return block->forward(x, cos, sin, mask, nullptr); }, h);
    else
      h = block->forward(h, cos, sin, mask, options.cache);
  }
  if (options.cache) options.cache->advance(T);
  if (options.last_only) h = h.narrow(1, T - 1, 1);
  return lm_head->forward(norm->forward(h));
}

}  // namespace flotilla::model
