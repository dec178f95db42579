// safetensors reader: every header field and offset is validated before any tensor is trusted.
// Format: u64 little-endian header length N, N bytes of JSON header, then the data buffer.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "io/mapped_file.h"

namespace flotilla::io {

enum class DType { F64, F32, F16, BF16, I64, I32, U32, I16, U8, I8, BOOL };

size_t dtype_size(DType dtype);
std::string_view dtype_name(DType dtype);  // the safetensors spelling: "F32", "BF16", ...

struct TensorInfo {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets into the data buffer, [begin, end)
  uint64_t end = 0;
  int64_t numel() const;
};

class SafetensorsFile {
 public:
  // Maps and validates the file; throws Error("[safetensors] '<path>': ...") on any inconsistency.
  explicit SafetensorsFile(const std::string& path);

  const std::string& path() const { return file_->path(); }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }  // sorted by name
  const TensorInfo* find(const std::string& name) const;
  const TensorInfo& at(const std::string& name) const;  // throws naming the file and tensor
  uint8_t* data(const TensorInfo& info) const { return data_begin_ + info.begin; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::shared_ptr<MappedFile>& mapping() const { return file_; }

 private:
  std::shared_ptr<MappedFile> file_;
  uint8_t* data_begin_ = nullptr;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace flotilla::io
