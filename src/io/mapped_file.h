// A whole file in memory, writable without touching the file: mapped copy-on-write, or, for files
// of 256 MB and more on Linux, read into memory backed by 2 MB pages (faster to stream weights from).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace flotilla::io {

class MappedFile {
 public:
  static std::shared_ptr<MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile(std::string path, uint8_t* data, size_t size) : path_(std::move(path)), data_(data), size_(size) {}
  std::string path_;
  uint8_t* data_;
  size_t size_;
};

}  // namespace flotilla::io
