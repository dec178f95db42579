#include "convert/gguf_writer.h"

#include <cstring>
#include <ostream>

#include "core/atomic_file.h"
#include "core/error.h"

namespace flotilla::convert {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "GGUF is written in host byte order, little-endian");

namespace {

// gguf_type (gguf.h).
constexpr uint32_t kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7, kString = 8, kArray = 9;
constexpr uint32_t kVersion = 3;
constexpr size_t kMaxNameBytes = 63;  // GGML_MAX_NAME 64, with its terminating NUL
constexpr size_t kMaxDims = 4;        // GGML_MAX_DIMS

struct TypeEntry {
  GgmlType type;
  std::string_view name;
  uint64_t block_values;
  uint64_t block_bytes;
};

// ggml's type traits (ggml.c): Q4_0 is an fp16 scale and 16 bytes of nibbles per 32 values,
// Q8_0 an fp16 scale and 32 int8.
constexpr TypeEntry kTypes[] = {
    {GgmlType::F32, "f32", 1, 4},        {GgmlType::F16, "f16", 1, 2},   {GgmlType::Q4_0, "q4_0", 32, 18},
    {GgmlType::Q8_0, "q8_0", 32, 34}, {GgmlType::BF16, "bf16", 1, 2},
};

const TypeEntry& entry_of(GgmlType type) {
  for (const auto& entry : kTypes) {
    if (entry.type == type) return entry;
  }
  fail("gguf", "unsupported ggml type id {}", static_cast<uint32_t>(type));
}

template <typename T>
void append(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}

void append_string(std::string& out, std::string_view text) {
  append<uint64_t>(out, text.size());
  out.append(text);
}

uint64_t padding(uint64_t size, uint32_t alignment) { return (alignment - size % alignment) % alignment; }

std::string dims_text(const std::vector<uint64_t>& dims) {
  std::string text;
  for (auto d : dims) text += (text.empty() ? "" : ", ") + std::to_string(d);
  return "[" + text + "]";
}

}  // namespace

std::string_view ggml_type_name(GgmlType type) { return entry_of(type).name; }

GgmlType ggml_type_from_name(std::string_view name) {
  std::string names;
  for (const auto& entry : kTypes) {
    if (entry.name == name) return entry.type;
    names += (names.empty() ? "" : ", ") + std::string(entry.name);
  }
  fail("gguf", "unknown type '{}', expected one of {}", name, names);
}

uint64_t ggml_tensor_bytes(GgmlType type, const std::vector<uint64_t>& dims) {
  const auto& entry = entry_of(type);
  if (dims.empty() || dims.size() > kMaxDims) {
    fail("gguf", "a tensor has {} dims {}, expected 1 to {}", dims.size(), dims_text(dims), kMaxDims);
  }
  if (dims[0] % entry.block_values != 0) {
    fail("gguf", "{} tensor of dims {}: the innermost dim must be a multiple of {}", entry.name, dims_text(dims),
         entry.block_values);
  }
  uint64_t bytes = dims[0] / entry.block_values * entry.block_bytes;
  for (size_t i = 1; i < dims.size(); ++i) {
    if (dims[i] == 0 || __builtin_mul_overflow(bytes, dims[i], &bytes)) {
      fail("gguf", "{} tensor of dims {}: a dim is 0 or its size overflows 64 bits", entry.name, dims_text(dims));
    }
  }
  if (bytes == 0) fail("gguf", "{} tensor of dims {} is empty", entry.name, dims_text(dims));
  return bytes;
}

void GgufDataSink::write(const void* data, size_t bytes) {
  if (bytes > expected_ - written_) {
    fail("gguf", "tensor '{}': data callback wrote more than the tensor's {} bytes", tensor_, expected_);
  }
  out_.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
  written_ += bytes;
}

void GgufWriter::begin_key(const std::string& key, uint32_t value_type) {
  if (key.empty()) fail("gguf", "empty metadata key");
  if (key == "general.alignment" && value_type != kU32) fail("gguf", "general.alignment must be a u32");
  if (!keys_.insert(key).second) fail("gguf", "metadata key '{}' added twice", key);
  append_string(kv_bytes_, key);
  append<uint32_t>(kv_bytes_, value_type);
  ++kv_count_;
}

void GgufWriter::add_u32(const std::string& key, uint32_t value) {
  const bool alignment = key == "general.alignment";
  if (alignment && (value == 0 || (value & (value - 1)) != 0)) {
    fail("gguf", "general.alignment {} is not a power of two", value);
  }
  begin_key(key, kU32);
  append<uint32_t>(kv_bytes_, value);
  if (alignment) alignment_ = value;
}

void GgufWriter::add_i32(const std::string& key, int32_t value) {
  begin_key(key, kI32);
  append<int32_t>(kv_bytes_, value);
}

void GgufWriter::add_f32(const std::string& key, float value) {
  begin_key(key, kF32);
  append<float>(kv_bytes_, value);
}

void GgufWriter::add_bool(const std::string& key, bool value) {
  begin_key(key, kBool);
  append<int8_t>(kv_bytes_, value ? 1 : 0);
}

void GgufWriter::add_string(const std::string& key, std::string_view value) {
  begin_key(key, kString);
  append_string(kv_bytes_, value);
}

void GgufWriter::add_strings(const std::string& key, const std::vector<std::string>& values) {
  begin_key(key, kArray);
  append<uint32_t>(kv_bytes_, kString);
  append<uint64_t>(kv_bytes_, values.size());
  for (const auto& value : values) append_string(kv_bytes_, value);
}

void GgufWriter::add_i32s(const std::string& key, const std::vector<int32_t>& values) {
  begin_key(key, kArray);
  append<uint32_t>(kv_bytes_, kI32);
  append<uint64_t>(kv_bytes_, values.size());
  kv_bytes_.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(int32_t));
}

void GgufWriter::add_f32s(const std::string& key, const std::vector<float>& values) {
  begin_key(key, kArray);
  append<uint32_t>(kv_bytes_, kF32);
  append<uint64_t>(kv_bytes_, values.size());
  kv_bytes_.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
}

void GgufWriter::add_tensor(const std::string& name, GgmlType type, const std::vector<uint64_t>& dims,
                            WriteData write_data) {
  if (name.empty() || name.size() > kMaxNameBytes) {
    fail("gguf", "tensor name '{}' has {} bytes, expected 1 to {}", name, name.size(), kMaxNameBytes);
  }
  if (!tensor_names_.insert(name).second) fail("gguf", "tensor '{}' added twice", name);
  if (!write_data) fail("gguf", "tensor '{}' has no data callback", name);
  uint64_t bytes = 0;
  try {
    bytes = ggml_tensor_bytes(type, dims);
  } catch (const Error& e) {
    fail("gguf", "tensor '{}': {}", name, std::string_view(e.what()).substr(std::string_view("[gguf] ").size()));
  }
  tensors_.push_back({name, type, dims, bytes, std::move(write_data)});
}

uint64_t GgufWriter::write(const std::string& path) const {
  std::string header = "GGUF";
  append<uint32_t>(header, kVersion);
  append<int64_t>(header, static_cast<int64_t>(tensors_.size()));
  append<int64_t>(header, kv_count_);
  header += kv_bytes_;
  uint64_t offset = 0;  // from the start of the data section
  for (const auto& t : tensors_) {
    append_string(header, t.name);
    append<uint32_t>(header, static_cast<uint32_t>(t.dims.size()));
    for (auto d : t.dims) append<int64_t>(header, static_cast<int64_t>(d));
    append<int32_t>(header, static_cast<int32_t>(t.type));
    append<uint64_t>(header, offset);
    offset += t.bytes + padding(t.bytes, alignment_);
  }
  header.append(padding(header.size(), alignment_), '\0');
  const uint64_t file_bytes = header.size() + offset;

  write_file_atomically(path, [&](std::ostream& out) {
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    const std::string zeros(alignment_, '\0');
    for (const auto& t : tensors_) {
      GgufDataSink sink(out, t.name, t.bytes);
      t.write_data(sink);
      if (sink.written() != t.bytes) {
        fail("gguf", "tensor '{}': data callback wrote {} bytes, expected {} bytes ({} {})", t.name, sink.written(), t.bytes,
             ggml_type_name(t.type), dims_text(t.dims));
      }
      out.write(zeros.data(), static_cast<std::streamsize>(padding(t.bytes, alignment_)));
      if (!out) fail("gguf", "writing '{}' failed at tensor '{}' (disk full?)", path, t.name);
    }
  });
  return file_bytes;
}

}  // namespace flotilla::convert
