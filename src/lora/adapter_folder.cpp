#include "lora/adapter_folder.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>

#include "core/atomic_file.h"
#include "core/error.h"

namespace flotilla::lora {

namespace {

std::string in(const std::string& dir, const std::string& name) { return (std::filesystem::path(dir) / name).string(); }

}  // namespace

std::string AdapterFolder::weights() const { return in(dir_, "adapters.safetensors"); }
std::string AdapterFolder::config() const { return in(dir_, "adapter_config.json"); }
std::string AdapterFolder::checkpoint(int64_t iteration) const {
  return in(dir_, fmt::format("{:07d}_adapters.safetensors", iteration));
}
std::string AdapterFolder::training_state() const { return in(dir_, "training_state.safetensors"); }
std::string AdapterFolder::metrics() const { return in(dir_, "metrics.jsonl"); }
std::string AdapterFolder::lock() const { return in(dir_, "training.lock"); }

FileLock AdapterFolder::lock_for_training() const {
  std::filesystem::create_directories(dir_);
  auto lock = FileLock::try_lock(this->lock());
  if (!lock) {
    std::string holder;
    std::ifstream(this->lock()) >> holder;  // the holder writes its pid just after locking: may be empty
    fail("lora", "adapter folder '{}' is in use by another training run (pid {}, holding '{}'); wait for it to end or "
         "pass another --adapter-path", dir_, holder.empty() ? "unknown" : holder, this->lock());
  }
  return std::move(*lock);
}

void AdapterFolder::write_config(const nlohmann::ordered_json& config) const {
  write_text_atomically(this->config(), config.dump(4));
}

nlohmann::json AdapterFolder::read_config() const {
  std::ifstream file(config());
  if (!file) fail("lora", "'{}' has no adapter_config.json", dir_);
  try {
    return nlohmann::json::parse(file);
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
    fail("lora", "'{}': invalid JSON: {}", config(), e.what());
  }
}

}  // namespace flotilla::lora
