#include "convert/gguf_export.h"

#include <filesystem>
#include <optional>
#include <set>
#include <vector>

#include "convert/ggml_blocks.h"
#include "convert/gguf_llama.h"
#include "convert/gguf_tokenizer.h"
#include "convert/rotary_rows.h"
#include "core/error.h"
#include "core/text.h"
#include "model/quantized.h"

using namespace flotilla::convert;

namespace flotilla::convert {

namespace {

namespace fs = std::filesystem;

// Hugging Face block module -> llama.cpp tensor (LLM_TENSOR_* names in llama-arch.cpp).
struct BlockTensor {
  const char* hf;
  const char* gguf;
};
constexpr BlockTensor kBlockTensors[] = {
    {"input_layernorm", "attn_norm"},  {"self_attn.q_proj", "attn_q"},  {"self_attn.k_proj", "attn_k"},
    {"self_attn.v_proj", "attn_v"},    {"self_attn.o_proj", "attn_output"}, {"post_attention_layernorm", "ffn_norm"},
    {"mlp.gate_proj", "ffn_gate"},     {"mlp.up_proj", "ffn_up"},       {"mlp.down_proj", "ffn_down"},
    {"self_attn.q_norm", "attn_q_norm"}, {"self_attn.k_norm", "attn_k_norm"},  // Qwen3, Gemma 3
    {"pre_feedforward_layernorm", "ffn_norm"}, {"post_feedforward_layernorm", "post_ffw_norm"},  // Gemma
    {"self_attn.qkv_proj", "attn_qkv"}, {"mlp.gate_up_proj", "ffn_up"},  // Phi-3's fused projections
    {"mlp.gate", "ffn_gate_inp"}, {"mlp.switch_mlp.gate_proj", "ffn_gate_exps"},  // Qwen3-MoE's router and experts
    {"mlp.switch_mlp.up_proj", "ffn_up_exps"}, {"mlp.switch_mlp.down_proj", "ffn_down_exps"},
};

// With Gemma's sandwich norms, post_attention_layernorm follows attention instead of preceding the MLP.
std::string gguf_block_name(const BlockTensor& t, const model::ModelConfig& c) {
  const std::string hf = t.hf;
  if (hf == "post_attention_layernorm" && c.sandwich_norms) return "post_attention_norm";
  return t.gguf;
}

bool in_block(const BlockTensor& t, const model::ModelConfig& c) {
  const std::string hf = t.hf;
  if (hf == "self_attn.q_norm" || hf == "self_attn.k_norm") return c.qk_norm;
  if (ends_with(hf, "feedforward_layernorm")) return c.sandwich_norms;
  if (hf == "self_attn.qkv_proj" || hf == "mlp.gate_up_proj") return c.fused_projections;
  if (hf == "mlp.gate" || hf.rfind("mlp.switch_mlp.", 0) == 0) return c.num_experts > 0;
  if (hf == "self_attn.q_proj" || hf == "self_attn.k_proj" || hf == "self_attn.v_proj") return !c.fused_projections;
  if (hf == "mlp.gate_proj" || hf == "mlp.up_proj") return !c.fused_projections && c.num_experts == 0;
  if (hf == "mlp.down_proj") return c.num_experts == 0;
  return true;
}

// A block weight's [out, in] (a norm's [width], stacked experts' [E, out, in]) in Hugging Face's
// layout, from its module.
std::vector<int64_t> block_weight_shape(const std::string& module, const model::ModelConfig& c) {
  const int64_t C = c.hidden_size, I = c.intermediate_size, E = c.num_experts, M = c.moe_intermediate_size;
  if (module == "mlp.gate") return {E, C};
  if (module == "mlp.switch_mlp.gate_proj" || module == "mlp.switch_mlp.up_proj") return {E, M, C};
  if (module == "mlp.switch_mlp.down_proj") return {E, C, M};
  const int64_t q = c.num_attention_heads * c.head_dim, kv = c.num_key_value_heads * c.head_dim;
  if (module == "self_attn.q_norm" || module == "self_attn.k_norm") return {c.head_dim};
  if (ends_with(module, "layernorm")) return {C};
  if (module == "self_attn.q_proj") return {q, C};
  if (module == "self_attn.k_proj" || module == "self_attn.v_proj") return {kv, C};
  if (module == "self_attn.qkv_proj") return {q + 2 * kv, C};
  if (module == "self_attn.o_proj") return {C, q};
  if (module == "mlp.gate_proj" || module == "mlp.up_proj") return {I, C};
  if (module == "mlp.gate_up_proj") return {2 * I, C};
  return {C, I};  // mlp.down_proj
}

// A tensor as the file holds it: its name, its [rows, cols] or [cols] shape, the q/k heads to reorder.
struct Planned {
  std::string name;
  std::vector<int64_t> shape;
  int64_t rotary_heads = 0;
};

std::string shape_text(const std::vector<int64_t>& shape) { return "[" + fmt::format("{}", fmt::join(shape, ", ")) + "]"; }

// The GGUF name and expected shape of a Hugging Face tensor; nullopt for one llama.cpp recomputes.
std::optional<Planned> plan_tensor(const std::string& hf, const model::ModelConfig& c, const std::string& source) {
  const int64_t C = c.hidden_size, V = c.vocab_size;
  if (ends_with(hf, "rotary_emb.inv_freq")) return std::nullopt;
  if (hf == "model.embed_tokens.weight") return Planned{"token_embd.weight", {V, C}};
  if (hf == "model.norm.weight") return Planned{"output_norm.weight", {C}};
  if (hf == "lm_head.weight") {
    if (c.tie_word_embeddings) return std::nullopt;  // llama.cpp reuses token_embd
    return Planned{"output.weight", {V, C}};
  }
  const std::string layers = "model.layers.";
  const auto dot = hf.find('.', layers.size());
  if (hf.rfind(layers, 0) == 0 && dot != std::string::npos) {
    const std::string block = hf.substr(layers.size(), dot - layers.size());
    const std::string rest = hf.substr(dot + 1);
    for (const auto& t : kBlockTensors) {
      const std::string module = t.hf;
      if (!in_block(t, c)) continue;
      for (const std::string kind : {"weight", "bias"}) {
        if (rest != module + "." + kind) continue;
        const std::string gguf = gguf_block_name(t, c);
        Planned p{"blk." + block + "." + gguf + "." + kind, block_weight_shape(module, c)};
        if (kind == "bias") p.shape.resize(1);
        if (gguf == "attn_q" && gguf_interleaves_rotary(c)) p.rotary_heads = c.num_attention_heads;
        if (gguf == "attn_k" && gguf_interleaves_rotary(c)) p.rotary_heads = c.num_key_value_heads;
        return p;
      }
    }
  }
  fail("gguf", "'{}': tensor '{}' has no counterpart in GGUF's {} architecture", source, hf, gguf_architecture(c));
}

// The type a weight of two or more dims is stored in: the chosen one where its blocks fit (see the header).
GgmlType matrix_type(GgmlType chosen, const Planned& p, bool output_matrix) {
  if (ends_with(p.name, "ffn_gate_inp.weight")) return GgmlType::F32;  // a router stays exact, as llama.cpp's quantizer keeps it
  if (chosen != GgmlType::Q8_0 && chosen != GgmlType::Q4_0) return chosen;
  if (p.shape.back() % 32 != 0) return GgmlType::F16;
  return chosen == GgmlType::Q4_0 && output_matrix ? GgmlType::Q8_0 : chosen;
}

// llama.cpp refuses a file without one of these; say which, before writing it.
void require_every_weight(const std::set<std::string>& written, const model::ModelConfig& c, const std::string& source) {
  std::vector<std::string> required = {"token_embd.weight", "output_norm.weight"};
  for (int64_t layer = 0; layer < c.num_hidden_layers; ++layer) {
    for (const auto& t : kBlockTensors)
      if (in_block(t, c)) required.push_back(fmt::format("blk.{}.{}.weight", layer, gguf_block_name(t, c)));
  }
  for (const auto& name : required) {
    if (!written.count(name))
      fail("gguf", "'{}': no tensor for GGUF '{}'; expected one in every {} model", source, name, gguf_architecture(c));
  }
}

std::string model_name(const std::string& dir) {
  const auto path = fs::path(dir).lexically_normal();
  return (path.has_filename() ? path.filename() : path.parent_path().filename()).string();
}

// Streams the float32 rows of `source()` in `type`, a few MiB at a time.
GgufWriter::WriteData row_writer(std::function<at::Tensor()> source, GgmlType type) {
  return [source = std::move(source), type](GgufDataSink& sink) {
    const auto values = source().to(at::kFloat).contiguous();
    const int64_t cols = values.size(-1), rows = values.numel() / cols;
    const float* data = values.data_ptr<float>();
    std::vector<uint8_t> buffer;
    for (int64_t r = 0; r < rows; ++r) {
      append_ggml_row(type, data + r * cols, static_cast<size_t>(cols), buffer);
      if (buffer.size() >= (4u << 20) || r + 1 == rows) {
        sink.write(buffer.data(), buffer.size());
        buffer.clear();
      }
    }
  };
}

}  // namespace

LlamaGgufExport::LlamaGgufExport(const std::string& model_dir, model::ModelConfig config, GgmlType type)
    : model_dir_(model_dir), config_(std::move(config)), type_(type) {
  check_llama_gguf_config(config_, model_dir_);
  add_llama_hparams(metadata_, config_);
  metadata_.add_string("general.name", model_name(model_dir_));
  metadata_.add_u32("general.file_type", llama_file_type(type_));
  if (type_ == GgmlType::Q8_0 || type_ == GgmlType::Q4_0) metadata_.add_u32("general.quantization_version", 2);  // GGML_QNT_VERSION
  add_gguf_tokenizer(metadata_, model_dir_, config_.vocab_size);
}

uint64_t LlamaGgufExport::write(const std::map<std::string, at::Tensor>& tensors, const std::string& path) const {
  GgufWriter w = metadata_;
  for (const auto& [name, factors] : rope_factor_tensors(config_)) {
    w.add_tensor(name, GgmlType::F32, {factors.size()},
                 [factors = factors](GgufDataSink& sink) { sink.write(factors.data(), factors.size() * sizeof(float)); });
  }
  bool has_output = false;
  std::set<std::string> written;
  for (const auto& [name, tensor] : tensors) {
    const auto base = name.substr(0, name.rfind('.'));
    const bool quantized = ends_with(name, ".weight") && tensors.count(base + ".scales");
    if ((ends_with(name, ".scales") || ends_with(name, ".biases")) && tensors.count(base + ".weight")) continue;
    auto planned = plan_tensor(name, config_, model_dir_);
    if (!planned) continue;
    std::function<at::Tensor()> source = [tensor] { return tensor; };
    std::vector<int64_t> shape = tensor.sizes().vec();
    if (quantized) {
      const model::QuantizedWeight q{tensor, tensors.at(base + ".scales"), tensors.at(base + ".biases"),
                                     config_.quantization.for_layer(base)};
      if (!q.spec.enabled()) fail("gguf", "'{}': '{}' has scales but the config does not quantize it", model_dir_, base);
      shape.back() = q.in_features();
      source = [q] { return model::mlx_dequantize(q, at::kFloat); };
    }
    if (shape != planned->shape) {
      fail("gguf", "'{}': tensor '{}' has shape {}; the config expects {} for GGUF '{}'", model_dir_, name, shape_text(shape),
           shape_text(planned->shape), planned->name);
    }
    if (const int64_t heads = planned->rotary_heads) {
      source = [source, heads] { return halves_to_interleaved(source(), heads); };
    }
    if (config_.norm_plus_one && ends_with(planned->name, "_norm.weight")) {  // llama.cpp scales by the weight itself
      source = [source] { return source().to(at::kFloat) + 1; };
    }
    const bool output_matrix = planned->name == "output.weight" || (config_.tie_word_embeddings && planned->name == "token_embd.weight");
    has_output |= output_matrix;
    const GgmlType type = shape.size() >= 2 ? matrix_type(type_, *planned, output_matrix) : GgmlType::F32;
    std::vector<uint64_t> dims(shape.rbegin(), shape.rend());  // innermost first
    w.add_tensor(planned->name, type, dims, row_writer(source, type));
    written.insert(planned->name);
  }
  if (!has_output)
    fail("gguf", "'{}': no {} among the tensors; expected the output projection", model_dir_,
         config_.tie_word_embeddings ? "model.embed_tokens.weight" : "lm_head.weight");
  require_every_weight(written, config_, model_dir_);
  return w.write(path);
}

}  // namespace flotilla::convert
