#include "train/checkpoint.h"

#include <fmt/format.h>

#include "core/error.h"
#include "io/weight_store.h"

namespace flotilla {

namespace {

const std::string kParameter = "parameter/", kOptimizer = "optimizer/";

int64_t metadata_int(const SafetensorsFile& file, const std::string& key) {
  auto it = file.metadata().find(key);
  if (it == file.metadata().end()) fail("checkpoint", "'{}' has no '{}' in its metadata; not a training state file", file.path(), key);
  try {
    return std::stoll(it->second);
  } catch (const std::exception&) {
    fail("checkpoint", "'{}': metadata '{}' is '{}', not an integer", file.path(), key, it->second);
  }
}

}  // namespace

void save_training_state(const std::string& path, const TrainingState& s) {
  NamedTensors tensors;
  for (const auto& [name, t] : s.parameters) tensors.emplace_back(kParameter + name, t.detach());
  for (const auto& [name, t] : s.optimizer) tensors.emplace_back(kOptimizer + name, t);
  save_safetensors(path, tensors,
                   {{"format", "flotilla-training-state"},
                    {"iteration", std::to_string(s.iteration)},
                    {"trained_tokens", std::to_string(s.trained_tokens)},
                    {"epoch", std::to_string(s.position.epoch)},
                    {"batch", std::to_string(s.position.batch)}});
}

TrainingState load_training_state(const std::string& path) {
  SafetensorsFile file(path);
  TrainingState s;
  s.iteration = metadata_int(file, "iteration");
  s.trained_tokens = metadata_int(file, "trained_tokens");
  s.position = {metadata_int(file, "epoch"), metadata_int(file, "batch")};
  for (const auto& info : file.tensors()) {
    auto t = load_tensor(file, info).clone();
    if (info.name.rfind(kParameter, 0) == 0) s.parameters.emplace_back(info.name.substr(kParameter.size()), t);
    else if (info.name.rfind(kOptimizer, 0) == 0) s.optimizer.emplace_back(info.name.substr(kOptimizer.size()), t);
    else fail("checkpoint", "'{}': unexpected tensor '{}'", path, info.name);
  }
  return s;
}

std::string checkpoint_file_name(int64_t iteration) { return fmt::format("{:07d}_adapters.safetensors", iteration); }

}  // namespace flotilla
