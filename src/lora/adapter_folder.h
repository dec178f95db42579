// The files of an adapter folder, named in one place: mlx-lm's adapters.safetensors,
// adapter_config.json and NNNNNNN_adapters.safetensors checkpoints, and Flotilla's
// training_state.safetensors (for --resume), metrics.jsonl and training.lock.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "core/file_lock.h"

namespace flotilla::lora {

class AdapterFolder {
 public:
  explicit AdapterFolder(std::string dir) : dir_(std::move(dir)) {}

  const std::string& dir() const { return dir_; }
  std::string weights() const;                       // adapters.safetensors: the latest adapters
  std::string config() const;                        // adapter_config.json: the run's configuration
  std::string checkpoint(int64_t iteration) const;   // 0000100_adapters.safetensors
  std::string training_state() const;                // training_state.safetensors
  std::string metrics() const;                       // metrics.jsonl
  std::string lock() const;                          // training.lock: held by the run training into it

  // Creates the folder if missing and locks it for one training run, for as long as the lock lives;
  // an Error naming the folder and the holder's pid if another run holds it.
  FileLock lock_for_training() const;

  // adapter_config.json, written atomically / read with errors naming the file and byte.
  void write_config(const nlohmann::ordered_json& config) const;
  nlohmann::json read_config() const;

 private:
  std::string dir_;
};

}  // namespace flotilla::lora
