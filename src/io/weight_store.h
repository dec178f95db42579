// All weights of a model folder: model.safetensors, or shards listed in model.safetensors.index.json.
#pragma once
#include <ATen/Tensor.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/safetensors.h"

namespace flotilla::io {

class WeightStore {
 public:
  // Pickled checkpoints (pytorch_model.bin, *.pt, *.pth) are refused: unpickling runs code.
  static WeightStore open_dir(const std::string& dir);
  static WeightStore open_file(const std::string& path);

  bool contains(const std::string& name) const { return index_.count(name) != 0; }
  at::Tensor get(const std::string& name) const;  // throws naming the folder and tensor
  std::vector<std::string> names() const;
  const std::string& source() const { return source_; }

 private:
  void add_file(std::shared_ptr<SafetensorsFile> file);

  std::string source_;
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::map<std::string, const SafetensorsFile*> index_;
};

}  // namespace flotilla::io
