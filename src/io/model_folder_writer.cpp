#include "io/model_folder_writer.h"

#include <fmt/format.h>

#include <filesystem>

#include "core/atomic_file.h"

namespace flotilla::io {

namespace {

namespace fs = std::filesystem;

const char* const kCompanionFiles[] = {"tokenizer.json",      "tokenizer_config.json",   "tokenizer.model",
                                       "special_tokens_map.json", "added_tokens.json",   "chat_template.jinja",
                                       "chat_template.json",  "generation_config.json"};

// Tensors in order, a new shard whenever the next one would take this one past the limit.
std::vector<NamedTensors> make_shards(const NamedTensors& tensors, int64_t max_shard_bytes) {
  std::vector<NamedTensors> shards(1);
  int64_t bytes = 0;
  for (const auto& item : tensors) {
    const auto size = static_cast<int64_t>(item.second.nbytes());
    if (!shards.back().empty() && bytes + size > max_shard_bytes) {
      shards.emplace_back();
      bytes = 0;
    }
    shards.back().push_back(item);
    bytes += size;
  }
  return shards;
}

}  // namespace

void write_model_folder(const std::string& out_dir, const NamedTensors& tensors, const nlohmann::ordered_json& config,
                        const std::string& source_dir, int64_t max_shard_bytes) {
  const fs::path out(out_dir);
  fs::create_directories(out);
  const auto shards = make_shards(tensors, max_shard_bytes);
  if (shards.size() == 1) {
    save_safetensors((out / "model.safetensors").string(), shards[0], {{"format", "mlx"}}, Int32Storage::packed_u32);
  } else {
    nlohmann::ordered_json weight_map = nlohmann::ordered_json::object();
    int64_t total = 0;
    for (size_t i = 0; i < shards.size(); ++i) {
      const auto name = fmt::format("model-{:05d}-of-{:05d}.safetensors", i + 1, shards.size());
      save_safetensors((out / name).string(), shards[i], {{"format", "mlx"}}, Int32Storage::packed_u32);
      for (const auto& [tensor, value] : shards[i]) {
        weight_map[tensor] = name;
        total += static_cast<int64_t>(value.nbytes());
      }
    }
    nlohmann::ordered_json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
    write_text_atomically((out / "model.safetensors.index.json").string(), index.dump(4));
  }
  write_text_atomically((out / "config.json").string(), config.dump(4));
  for (const char* name : kCompanionFiles) {
    const auto from = fs::path(source_dir) / name;
    if (fs::exists(from)) fs::copy_file(from, out / name, fs::copy_options::overwrite_existing);
  }
}

}  // namespace flotilla::io
