#include "flotilla/fuse.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>

#include "convert/gguf_export.h"
#include "core/error.h"
#include "io/model_folder_writer.h"
#include "io/weight_store.h"
#include "lora/adapter_folder.h"
#include "lora/adapters.h"
#include "model/expert_layout.h"
#include "model/loader.h"

// The public fuse_model (include/flotilla/fuse.h) over lora/, model/ and io/.
using namespace flotilla::convert;
using namespace flotilla::io;
using namespace flotilla::lora;
using namespace flotilla::model;

namespace flotilla {

namespace fs = std::filesystem;

namespace {

std::string gguf_path_in(const std::string& save_dir, const FuseOptions& options) {
  const fs::path path = options.gguf_path.empty() ? "ggml-model-" + options.gguf_type + ".gguf" : options.gguf_path;
  return (fs::path(save_dir) / path).string();  // an absolute path stays as it is
}

}  // namespace

FuseResult fuse_model(const std::string& model_dir, const std::string& adapter_dir, const std::string& save_dir,
                      const FuseOptions& options) {
  if (fs::exists(save_dir) && fs::equivalent(model_dir, save_dir))
    fail("fuse", "--save-path '{}' is the base model folder; choose another folder", save_dir);
  // Merged in float32 whatever the model computes in: the written weights round once, at the end.
  auto loaded = load_model(model_dir, {at::kFloat});
  std::optional<LlamaGgufExport> gguf;
  if (options.export_gguf) gguf.emplace(model_dir, loaded.config, ggml_type_from_name(options.gguf_type));
  load_adapters(loaded.model, adapter_dir);
  auto store = WeightStore::open_dir(model_dir);
  std::map<std::string, at::Tensor> tensors;
  const auto get = [&](const std::string& name) { return store.get(name); };
  for (const auto& name : store.names())  // per-expert tensors stacked, as the model holds them
    if (auto tensor = read_stacking_experts(name, loaded.config.num_experts, get)) tensors.insert(std::move(*tensor));

  c10::InferenceMode guard;
  std::map<std::string, at::Tensor> dense_fused;  // the GGUF's weights where the folder re-quantizes
  for (auto& linear : model_linears(loaded.model)) {
    const bool rewrite = linear->has_adapter() || (options.dequantize && linear->is_quantized());
    if (!rewrite || (loaded.config.tie_word_embeddings && linear->name() == "lm_head")) continue;
    const std::string prefix = linear->name();
    auto fused = linear->fused_weight();
    if (linear->is_quantized() && !options.dequantize) {
      const auto scale_dtype = tensors.at(prefix + ".scales").scalar_type();
      auto q = mlx_quantize(fused, loaded.config.quantization.for_layer(prefix), scale_dtype);
      if (gguf) dense_fused[prefix] = fused;
      tensors[prefix + ".weight"] = q.packed;
      tensors[prefix + ".scales"] = q.scales;
      tensors[prefix + ".biases"] = q.biases;
    } else {
      const auto dtype = linear->is_quantized() ? tensors.at(prefix + ".scales").scalar_type()
                                                : tensors.at(prefix + ".weight").scalar_type();
      tensors[prefix + ".weight"] = fused.to(dtype);
      tensors.erase(prefix + ".scales");
      tensors.erase(prefix + ".biases");
    }
  }

  // A full fine-tune trained the tensors themselves (norms included): they replace the base's, in its dtype.
  const AdapterFolder adapters(adapter_dir);
  if (parse_lora_config(adapters.read_config(), adapters.config()).fine_tune_type == "full") {
    const auto trained = WeightStore::open_file(adapters.weights());
    for (const auto& name : trained.names()) {
      const auto base = tensors.find(name);
      if (base == tensors.end()) fail("fuse", "trained tensor '{}' is not in the base model '{}'", name, model_dir);
      base->second = trained.get(name).to(base->second.scalar_type());
    }
  }

  std::ifstream config_in(fs::path(model_dir) / "config.json");
  auto config = nlohmann::ordered_json::parse(config_in);
  if (options.dequantize) {
    config.erase("quantization");
    config.erase("quantization_config");
  }
  write_model_folder(save_dir, NamedTensors(tensors.begin(), tensors.end()), config, model_dir);
  if (!gguf) return {};
  for (const auto& [prefix, weight] : dense_fused) {
    tensors[prefix + ".weight"] = weight;
    tensors.erase(prefix + ".scales");
    tensors.erase(prefix + ".biases");
  }
  FuseResult result{gguf_path_in(save_dir, options)};
  result.gguf_bytes = gguf->write(tensors, result.gguf_path);
  return result;
}

}  // namespace flotilla
