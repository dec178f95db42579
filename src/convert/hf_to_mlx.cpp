#include "convert/hf_to_mlx.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "core/text.h"
#include "core/progress.h"
#include "io/weight_store.h"
#include "model/config.h"
#include "model/loader.h"
#include "model/expert_layout.h"
#include "model/quantized.h"

using namespace flotilla::io;
using namespace flotilla::model;

namespace flotilla::convert {

namespace {

namespace fs = std::filesystem;

// mlx-lm keeps a mixture-of-experts router at 8 bits in groups of 64 whatever the other layers get.
constexpr QuantSpec kRouterSpec{8, 64};

bool is_router(const std::string& name, const ModelConfig& model) {
  return model.num_experts > 0 && ends_with(name, ".mlp.gate.weight");
}

// MLX quantizes Linear and Embedding layers whose input width splits into whole groups.
bool quantizable(const std::string& name, const at::Tensor& t, int group_size) {
  const bool layer = ends_with(name, "_proj.weight") || ends_with(name, "embed_tokens.weight") ||
                     ends_with(name, "lm_head.weight") || ends_with(name, ".mlp.gate.weight");
  return layer && t.dim() >= 2 && t.size(-1) % group_size == 0;  // three dims: stacked experts
}

void check_options(const HfConvertOptions& o) {
  if (o.bits != 2 && o.bits != 4 && o.bits != 8)
    fail("convert", "--q-bits {}: Flotilla reads 2, 4 and 8-bit MLX weights", o.bits);
  if (o.group_size != 32 && o.group_size != 64 && o.group_size != 128)
    fail("convert", "--q-group-size {}: MLX's group sizes are 32, 64 and 128", o.group_size);
  if (fs::exists(o.mlx_path))
    fail("convert", "cannot save to '{}': it already exists; delete it or choose another --mlx-path", o.mlx_path);
}

}  // namespace

std::string convert_hf_to_mlx(const HfConvertOptions& options) {
  check_options(options);
  const auto config_path = (fs::path(options.hf_path) / "config.json").string();
  auto config = read_config_json(config_path);
  const ModelConfig model = parse_model_config(config, config_path);
  if (model.quantization.defaults.enabled())
    fail("convert", "'{}' is already quantized; convert takes a dense Hugging Face model", config_path);
  const std::string dtype_name = options.dtype.empty() ? model.torch_dtype : options.dtype;
  const at::ScalarType dtype = parse_dtype(dtype_name);
  if (dtype != at::kHalf && dtype != at::kBFloat16 && dtype != at::kFloat)
    fail("convert", "--dtype {}: expected float16, bfloat16 or float32", dtype_name);

  const auto store = WeightStore::open_dir(options.hf_path);
  const auto names = store.names();
  NamedTensors out;
  int quantized = 0;
  const QuantSpec default_spec{options.bits, options.group_size};
  auto per_layer = nlohmann::json::object();  // quantization entries that differ from the defaults
  Progress progress("converting", static_cast<int64_t>(names.size()));
  const auto get = [&](const std::string& name) { return store.get(name); };
  for (const auto& given : names) {
    progress.advance();
    // mlx-lm drops what it recomputes (RoPE frequencies) and the head a tied model shares with the embedding.
    if (ends_with(given, "rotary_emb.inv_freq") || (model.tie_word_embeddings && given == "lm_head.weight")) continue;
    auto read = read_stacking_experts(given, model.num_experts, get);  // experts stacked, as mlx-lm writes them
    if (!read) continue;
    const auto& name = read->first;
    auto t = read->second;
    if (at::isFloatingType(t.scalar_type())) t = t.to(dtype);
    const QuantSpec spec = is_router(name, model) ? kRouterSpec : default_spec;
    if (options.quantize && quantizable(name, t, spec.group_size)) {
      const auto prefix = name.substr(0, name.size() - std::string(".weight").size());
      if (spec.bits != default_spec.bits || spec.group_size != default_spec.group_size)
        per_layer[prefix] = {{"group_size", spec.group_size}, {"bits", spec.bits}};
      auto q = mlx_quantize(t, spec, dtype);
      out.emplace_back(prefix + ".biases", q.biases);
      out.emplace_back(prefix + ".scales", q.scales);
      out.emplace_back(name, q.packed);
      ++quantized;
    } else {
      out.emplace_back(name, t);
    }
  }
  progress.finish();
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });

  config.erase("_name_or_path");
  config["torch_dtype"] = dtype == at::kHalf ? "float16" : dtype == at::kBFloat16 ? "bfloat16" : "float32";
  if (options.quantize) {
    config["quantization"] = {{"group_size", options.group_size}, {"bits", options.bits}};
    config["quantization"].update(per_layer);
    config["quantization_config"] = config["quantization"];
  }
  write_model_folder(options.mlx_path, out, nlohmann::ordered_json::parse(config.dump()), options.hf_path,
                     options.max_shard_bytes);
  return fmt::format("Wrote {} ({} tensors, {} quantized to {} bits in groups of {}, {})", options.mlx_path,
                     out.size(), quantized, options.bits, options.group_size, at::toString(dtype));
}

}  // namespace flotilla::convert
