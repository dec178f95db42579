// Writes a model folder as mlx-lm does: the weights in model.safetensors, or in shards of at most
// `max_shard_bytes` (model-00001-of-00002.safetensors ...) with model.safetensors.index.json;
// config.json; and the tokenizer and chat-template files copied from the source folder.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "io/tensor_io.h"

namespace flotilla::io {

inline constexpr int64_t kMlxShardBytes = int64_t{5} << 30;  // mlx-lm's MAX_FILE_SIZE_GB

void write_model_folder(const std::string& out_dir, const NamedTensors& tensors, const nlohmann::ordered_json& config,
                        const std::string& source_dir, int64_t max_shard_bytes = kMlxShardBytes);

}  // namespace flotilla::io
