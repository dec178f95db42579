#include "model/llama.h"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>

#include "model/fused_attention.h"
#include "model/recompute.h"
#include "tensor/bfloat16_matmul.h"

using namespace flotilla::io;

namespace flotilla::model {

RMSNormImpl::RMSNormImpl(at::Tensor weight, double eps, bool plus_one) : eps_(eps), plus_one_(plus_one) {
  weight_ = register_parameter("weight", weight, /*requires_grad=*/false);
}

at::Tensor RMSNormImpl::forward(const at::Tensor& x) {
  // Normalise in at least float32 whatever the compute dtype, as the Hugging Face reference does.
  auto wide = x.to(at::promote_types(x.scalar_type(), at::kFloat));
  auto normed = wide * at::rsqrt(wide.pow(2).mean(-1, /*keepdim=*/true) + eps_);
  if (plus_one_) return (normed * (weight_.to(wide.scalar_type()) + 1)).to(x.scalar_type());
  return weight_ * normed.to(x.scalar_type());
}

AttentionImpl::AttentionImpl(const ModelConfig& c, int64_t layer, WeightReader& w, at::ScalarType dtype)
    : heads_(c.num_attention_heads), kv_heads_(c.num_key_value_heads), head_dim_(c.head_dim), window_(c.window_of(layer)),
      scale_(1.0 / std::sqrt(c.query_pre_attn_scalar > 0 ? c.query_pre_attn_scalar : static_cast<double>(c.head_dim))),
      softcap_(c.attn_logit_softcapping) {
  const std::string prefix = "model.layers." + std::to_string(layer) + ".self_attn";
  const int64_t C = c.hidden_size, q_out = heads_ * head_dim_, kv_out = kv_heads_ * head_dim_;
  const auto projection = [&](const char* name, int64_t in, int64_t out, bool bias) {
    return register_module(name, Linear(prefix + "." + name, in, out, w.linear(prefix + "." + name, bias), dtype));
  };
  if (c.fused_projections) {
    qkv_proj = projection("qkv_proj", C, q_out + 2 * kv_out, c.attention_bias);
  } else {
    q_proj = projection("q_proj", C, q_out, c.attention_bias);
    k_proj = projection("k_proj", C, kv_out, c.attention_bias);
    v_proj = projection("v_proj", C, kv_out, c.attention_bias);
  }
  o_proj = projection("o_proj", q_out, C, c.o_proj_bias);
  if (c.qk_norm) {
    q_norm = register_module("q_norm", RMSNorm(w.dense(prefix + ".q_norm.weight", {head_dim_}), c.rms_norm_eps, c.norm_plus_one));
    k_norm = register_module("k_norm", RMSNorm(w.dense(prefix + ".k_norm.weight", {head_dim_}), c.rms_norm_eps, c.norm_plus_one));
  }
}

at::Tensor AttentionImpl::forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                                  const at::Tensor& mask, KVCache* cache, int64_t layer) {
  const int64_t B = x.size(0), T = x.size(1), G = heads_ / kv_heads_;
  const int64_t q_out = heads_ * head_dim_, kv_out = kv_heads_ * head_dim_;
  const auto qkv = qkv_proj ? qkv_proj->forward(x) : at::Tensor();
  auto q = (qkv_proj ? qkv.narrow(-1, 0, q_out) : q_proj->forward(x)).reshape({B, T, heads_, head_dim_});
  auto k = (qkv_proj ? qkv.narrow(-1, q_out, kv_out) : k_proj->forward(x)).reshape({B, T, kv_heads_, head_dim_});
  auto v = (qkv_proj ? qkv.narrow(-1, q_out + kv_out, kv_out) : v_proj->forward(x)).reshape({B, T, kv_heads_, head_dim_});
  if (q_norm) q = q_norm->forward(q), k = k_norm->forward(k);
  q = q.transpose(1, 2), k = k.transpose(1, 2), v = v.transpose(1, 2);
  q = apply_rotary(q, cos, sin);
  k = apply_rotary(k, cos, sin);
  if (cache) std::tie(k, v) = cache->append(layer, k, v);
  // Without a padding mask the causal mask lives in the fused kernel (no T×S scores in memory);
  // elsewhere only a single query may come without a mask (it sees every key).
  if (!mask.defined() && softcap_ == 0 && fused_attention_supports(q.scalar_type(), q.device()))
    return o_proj->forward(fused_causal_attention(q, k, v, window_, scale_).reshape({B, T, heads_ * head_dim_}));
  TORCH_CHECK(mask.defined() || T == 1, "attention: ", T, " queries in ", q.scalar_type(), " on ", q.device(),
              " need a causal mask");
  const int64_t S = k.size(2);
  // Query heads h = j*G + g share key/value head j: fold the G query heads into the time axis
  // so keys and values are used in place instead of being repeated G times.
  // Scaling q (T·D values) is cheaper than scaling the scores (T·S values).
  auto grouped_q = (q * scale_).reshape({B, kv_heads_, G * T, head_dim_});
  auto scores = at::matmul(grouped_q, k.transpose(-1, -2));
  if (softcap_ > 0) scores = at::tanh(scores / softcap_) * softcap_;
  // Out of place: an in-place add on this view makes autograd copy the whole score gradient.
  if (mask.defined()) scores = (scores.view({B, kv_heads_, G, T, S}) + mask).view({B, kv_heads_, G * T, S});
  // Softmax in at least float32; float32 and float64 scores need no conversion.
  const bool wide = scores.scalar_type() == at::kFloat || scores.scalar_type() == at::kDouble;
  auto probs = wide ? at::softmax(scores, -1) : at::softmax(scores, -1, at::kFloat).to(v.scalar_type());
  auto out = at::matmul(probs, v).view({B, heads_, T, head_dim_}).transpose(1, 2).reshape({B, T, heads_ * head_dim_});
  return o_proj->forward(out);
}

MLPImpl::MLPImpl(const ModelConfig& c, const std::string& prefix, WeightReader& w, at::ScalarType dtype)
    : gelu_(c.hidden_act == "gelu_pytorch_tanh") {
  const int64_t C = c.hidden_size, F = c.intermediate_size;
  const auto projection = [&](const char* name, int64_t in, int64_t out) {
    return register_module(name, Linear(prefix + "." + name, in, out, w.linear(prefix + "." + name, c.mlp_bias), dtype));
  };
  if (c.fused_projections) {
    gate_up_proj = projection("gate_up_proj", C, 2 * F);
  } else {
    gate_proj = projection("gate_proj", C, F);
    up_proj = projection("up_proj", C, F);
  }
  down_proj = projection("down_proj", F, C);
}

at::Tensor MLPImpl::forward(const at::Tensor& x) {
  at::Tensor gate, up;
  if (gate_up_proj) {
    const auto both = gate_up_proj->forward(x);
    const int64_t F = both.size(-1) / 2;
    gate = both.narrow(-1, 0, F), up = both.narrow(-1, F, F);
  } else {
    gate = gate_proj->forward(x), up = up_proj->forward(x);
  }
  return down_proj->forward((gelu_ ? at::gelu(gate, "tanh") : at::silu(gate)) * up);
}

BlockImpl::BlockImpl(const ModelConfig& c, int64_t layer, WeightReader& w, at::ScalarType dtype) : layer_(layer) {
  const std::string prefix = "model.layers." + std::to_string(layer);
  const auto norm = [&](const char* name) {
    return register_module(name, RMSNorm(w.dense(prefix + "." + name + ".weight", {c.hidden_size}), c.rms_norm_eps, c.norm_plus_one));
  };
  input_layernorm = norm("input_layernorm");
  self_attn = register_module("self_attn", Attention(c, layer, w, dtype));
  post_attention_layernorm = norm("post_attention_layernorm");
  if (c.sandwich_norms) {
    pre_feedforward_layernorm = norm("pre_feedforward_layernorm");
    post_feedforward_layernorm = norm("post_feedforward_layernorm");
  }
  if (c.is_sparse(layer)) moe = register_module("mlp", SparseMoe(c, prefix + ".mlp", w, dtype));
  else mlp = register_module("mlp", MLP(c, prefix + ".mlp", w, dtype));
}

at::Tensor BlockImpl::forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                              const at::Tensor& mask, KVCache* cache) {
  auto attended = self_attn->forward(input_layernorm->forward(x), cos, sin, mask, cache, layer_);
  const auto feed_forward = [&](const at::Tensor& h) { return moe ? moe->forward(h) : mlp->forward(h); };
  if (!pre_feedforward_layernorm) {
    auto h = x + attended;
    return h + feed_forward(post_attention_layernorm->forward(h));
  }
  auto h = x + post_attention_layernorm->forward(attended);
  return h + post_feedforward_layernorm->forward(feed_forward(pre_feedforward_layernorm->forward(h)));
}

LlamaModelImpl::LlamaModelImpl(const ModelConfig& c, WeightReader& w, at::ScalarType dtype)
    : config_(c), dtype_(dtype), rotary_(std::make_shared<RotaryTable>(c)) {
  if (dtype == at::kBFloat16) tensor::ensure_bfloat16_matmul_runs();
  if (c.rope_local_theta > 0) {
    ModelConfig local = c;
    local.rope_theta = c.rope_local_theta;
    local.rope_scaling = RopeScaling{};
    local_rotary_ = std::make_shared<RotaryTable>(local);
  }
  embed_tokens = register_module(
      "embed_tokens", Linear("model.embed_tokens", c.hidden_size, c.vocab_size, w.linear("model.embed_tokens", false), dtype));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) layers->push_back(Block(c, i, w, dtype));
  norm = register_module("norm", RMSNorm(w.dense("model.norm.weight", {c.hidden_size}), c.rms_norm_eps, c.norm_plus_one));
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
  const auto global_rope = rotary_->lookup(positions, max_position, dtype_);
  const auto local_rope = local_rotary_ ? local_rotary_->lookup(positions, max_position, dtype_) : global_rope;
  // One query sees every held key unless a window hides some; then, or for several, the fused
  // kernel applies causality and the window, or a mask must (soft-capped scores always take one).
  const bool fused = fused_attention_supports(dtype_, tokens.device()) && config_.attn_logit_softcapping == 0;
  const auto mask_for = [&](int64_t window) {
    const bool windowed = window > 0 && held + T > window;
    if (options.attention_mask.defined() || options.visible.defined() || ((T > 1 || windowed) && !fused))
      return build_mask(B, T, held, options.attention_mask, options.visible, window, dtype_, tokens.device());
    return at::Tensor();
  };
  const at::Tensor global_mask = config_.uniform_window() ? at::Tensor() : mask_for(0);
  const at::Tensor local_mask = config_.sliding_window > 0 ? mask_for(config_.sliding_window) : at::Tensor();

  auto h = embed_tokens->embed(tokens);
  if (config_.scale_embeddings)  // √hidden rounded to the compute dtype first, as Gemma's reference does
    h = h * at::scalar_tensor(std::sqrt(static_cast<double>(config_.hidden_size)), h.options());
  const bool recompute = gradient_checkpointing_ && is_training() && !options.cache;
  for (int64_t i = 0; i < config_.num_hidden_layers; ++i) {
    auto block = layers->ptr<BlockImpl>(static_cast<size_t>(i));
    const bool local = config_.is_local(i);
    const auto& [cos, sin] = local ? local_rope : global_rope;
    const auto& mask = local ? local_mask : global_mask;
    // Only blocks with something to train can need their activations in backward.
    if (recompute && (h.requires_grad() || has_trainable_parameters(*block)))
      h = recompute_in_backward([block, cos = cos, sin = sin, mask](const at::Tensor& x) { return block->forward(x, cos, sin, mask, nullptr); }, h);
    else
      h = block->forward(h, cos, sin, mask, options.cache);
  }
  if (options.cache) options.cache->advance(T);
  if (options.last_only) h = h.narrow(1, T - 1, 1);
  auto logits = lm_head->forward(norm->forward(h));
  if (const double cap = config_.final_logit_softcapping; cap > 0) logits = at::tanh(logits / cap) * cap;
  return logits;
}

}  // namespace flotilla::model
