// GGUF v3 writer (llama.cpp's model file), torch-free. Layout, all little-endian (ggml/include/gguf.h):
// "GGUF", u32 version 3, i64 tensor count, i64 key/value count, the key/values, the tensor infos
// (name, dims innermost first, ggml type, offset), zero padding to the alignment, then each
// tensor's data padded to the alignment. Tensor data comes from one callback per tensor, so a
// multi-gigabyte file streams to disk without being held in memory.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace flotilla::convert {

// ggml's type ids (enum ggml_type in ggml.h) for the types we write.
enum class GgmlType : uint32_t { F32 = 0, F16 = 1, Q4_0 = 2, Q8_0 = 8, BF16 = 30 };

std::string_view ggml_type_name(GgmlType type);  // "f32", "q4_0", ... as ggml spells them
GgmlType ggml_type_from_name(std::string_view name);  // the inverse; an Error listing the names otherwise

// Bytes of a tensor of this type and dims (innermost first). The innermost dim must be a whole
// number of blocks (32 values for Q4_0 and Q8_0); throws Error("[gguf] ...") otherwise.
uint64_t ggml_tensor_bytes(GgmlType type, const std::vector<uint64_t>& dims);

// Where a tensor's data callback writes its bytes; the writer checks that exactly the tensor's
// size arrived.
class GgufDataSink {
 public:
  void write(const void* data, size_t bytes);
  uint64_t written() const { return written_; }

 private:
  friend class GgufWriter;
  GgufDataSink(std::ostream& out, const std::string& tensor, uint64_t expected)
      : out_(out), tensor_(tensor), expected_(expected) {}
  std::ostream& out_;
  const std::string& tensor_;
  uint64_t expected_;
  uint64_t written_ = 0;
};

class GgufWriter {
 public:
  using WriteData = std::function<void(GgufDataSink&)>;

  // Key/values are written in the order they are added; a key may appear once.
  void add_u32(const std::string& key, uint32_t value);
  void add_i32(const std::string& key, int32_t value);
  void add_f32(const std::string& key, float value);
  void add_bool(const std::string& key, bool value);
  void add_string(const std::string& key, std::string_view value);
  void add_strings(const std::string& key, const std::vector<std::string>& values);
  void add_i32s(const std::string& key, const std::vector<int32_t>& values);
  void add_f32s(const std::string& key, const std::vector<float>& values);

  // general.alignment, a power of two (32 when never set); the same as add_u32 of that key.
  void set_alignment(uint32_t alignment) { add_u32("general.alignment", alignment); }

  // dims innermost first: a row-major [rows, cols] matrix is {cols, rows}. write_data is called
  // once, during write(), and must write exactly ggml_tensor_bytes(type, dims) bytes.
  void add_tensor(const std::string& name, GgmlType type, const std::vector<uint64_t>& dims, WriteData write_data);

  // Writes the file through a temp file beside path, renamed over it only when complete; a
  // throwing callback leaves no file. Returns the file's size in bytes.
  uint64_t write(const std::string& path) const;

 private:
  struct Tensor {
    std::string name;
    GgmlType type;
    std::vector<uint64_t> dims;
    uint64_t bytes;
    WriteData write_data;
  };

  void begin_key(const std::string& key, uint32_t value_type);

  std::string kv_bytes_;  // the key/values, already serialised
  int64_t kv_count_ = 0;
  std::set<std::string> keys_;
  uint32_t alignment_ = 32;
  std::vector<Tensor> tensors_;
  std::set<std::string> tensor_names_;
};

}  // namespace flotilla::convert
