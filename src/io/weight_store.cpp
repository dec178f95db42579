#include "io/weight_store.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/file.h"
#include "io/tensor_io.h"

namespace flotilla::io {

namespace fs = std::filesystem;

namespace {

bool has_pickle_extension(const fs::path& path) {
  const std::string ext = path.extension().string();
  return ext == ".bin" || ext == ".pt" || ext == ".pth";
}

// pytorch_model.bin, pytorch_model-00001-of-00002.bin, *.pt, *.pth (consolidated.00.pth included).
bool is_pickled_checkpoint(const fs::path& path) {
  const std::string name = path.filename().string();
  return has_pickle_extension(path) && (path.extension() != ".bin" || name.rfind("pytorch_model", 0) == 0);
}

[[noreturn]] void refuse_pickled(const std::string& what) {
  fail("weights",
       "{}; Flotilla loads safetensors only, because unpickling runs arbitrary code. Convert it first "
       "(e.g. with transformers: model.save_pretrained(dir, safe_serialization=True))",
       what);
}

// The first pickled checkpoint in dir (by name, for a stable message), or "" if none.
std::string find_pickled(const fs::path& dir) {
  std::vector<std::string> found;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file() && is_pickled_checkpoint(entry.path())) {
      found.push_back(entry.path().filename().string());
    }
  }
  return found.empty() ? "" : *std::min_element(found.begin(), found.end());
}

nlohmann::json read_index(const fs::path& index_path) {
  std::ifstream in(index_path, std::ios::binary);
  if (!in) fail("weights", "cannot open '{}'", index_path.string());
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
    fail("weights", "'{}' is not valid JSON: {}", index_path.string(), e.what());
  }
}

}  // namespace

// Indexes every tensor of the file; a name already indexed from another file is an error.
void WeightStore::add_file(std::shared_ptr<SafetensorsFile> file) {
  for (const auto& info : file->tensors()) {
    auto [it, inserted] = index_.emplace(info.name, file.get());
    if (!inserted) {
      fail("weights", "'{}': tensor '{}' is in both '{}' and '{}'", source_, info.name, it->second->path(),
           file->path());
    }
  }
  files_.push_back(std::move(file));
}

WeightStore WeightStore::open_file(const std::string& path) {
  if (has_pickle_extension(path)) refuse_pickled(fmt::format("'{}' is a pickled checkpoint", path));
  WeightStore store;
  store.source_ = path;
  store.add_file(std::make_shared<SafetensorsFile>(path));
  return store;
}

WeightStore WeightStore::open_dir(const std::string& dir) {
  const fs::path folder(dir);
  if (!fs::is_directory(folder)) fail("weights", "'{}' is not a folder", dir);
  WeightStore store;
  store.source_ = dir;

  const fs::path single = folder / "model.safetensors";
  if (fs::exists(single)) {
    store.add_file(std::make_shared<SafetensorsFile>(single.string()));
    return store;
  }

  const fs::path index_path = folder / "model.safetensors.index.json";
  if (fs::exists(index_path)) {
    const nlohmann::json index = read_index(index_path);
    const auto weight_map = index.is_object() ? index.find("weight_map") : index.end();
    if (weight_map == index.end() || !weight_map->is_object()) {
      fail("weights", "'{}' has no \"weight_map\" object (tensor name -> shard file)", index_path.string());
    }
    std::map<std::string, std::shared_ptr<SafetensorsFile>> shards;
    for (const auto& [tensor, shard_value] : weight_map->items()) {
      if (!shard_value.is_string()) {
        fail("weights", "'{}': shard for tensor '{}' is {}, expected a file name", index_path.string(), tensor,
             shard_value.dump());
      }
      const std::string shard = shard_value.get<std::string>();
      if (!is_plain_file_name(shard)) {
        fail("weights", "'{}': shard {} for tensor '{}' is not a plain file name in the model folder (no '/', "
             "'\\' or '..')", index_path.string(), shard_value.dump(), tensor);
      }
      auto& file = shards[shard];
      if (!file) {
        const fs::path shard_path = folder / shard;
        if (!fs::exists(shard_path)) {
          fail("weights", "'{}' lists shard '{}' (for tensor '{}'), but '{}' does not exist", index_path.string(),
               shard, tensor, shard_path.string());
        }
        file = std::make_shared<SafetensorsFile>(shard_path.string());
        store.add_file(file);
      }
      if (file->find(tensor) == nullptr) {
        fail("weights", "'{}' puts tensor '{}' in shard '{}', which has no such tensor", index_path.string(), tensor,
             shard);
      }
    }
    return store;
  }

  const std::string pickled = find_pickled(folder);
  if (!pickled.empty()) refuse_pickled(fmt::format("'{}' holds only pickled checkpoint '{}'", dir, pickled));
  fail("weights", "'{}' has no model.safetensors, no model.safetensors.index.json and no pickled checkpoint", dir);
}

at::Tensor WeightStore::get(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) fail("weights", "'{}': no tensor '{}'", source_, name);
  return load_tensor(*it->second, it->second->at(name));
}

std::vector<std::string> WeightStore::names() const {
  std::vector<std::string> names;
  names.reserve(index_.size());
  for (const auto& [name, file] : index_) names.push_back(name);
  return names;
}

}  // namespace flotilla::io
