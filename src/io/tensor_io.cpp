#include "io/tensor_io.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <set>

#include "core/atomic_file.h"
#include "core/error.h"

namespace flotilla::io {

namespace {

struct DTypePair {
  DType dtype;
  at::ScalarType scalar_type;
};

// U32 shares kInt with I32 on load; on save kInt is always written as I32 (first match).
constexpr DTypePair kScalarTypes[] = {
    {DType::F64, at::kDouble}, {DType::F32, at::kFloat}, {DType::F16, at::kHalf},  {DType::BF16, at::kBFloat16},
    {DType::I64, at::kLong},   {DType::I32, at::kInt},   {DType::U32, at::kInt},   {DType::I16, at::kShort},
    {DType::U8, at::kByte},    {DType::I8, at::kChar},   {DType::BOOL, at::kBool},
};

at::ScalarType scalar_type_of(DType dtype) {
  for (const auto& pair : kScalarTypes) {
    if (pair.dtype == dtype) return pair.scalar_type;
  }
  fail("safetensors", "no ATen type for dtype {}", dtype_name(dtype));
}

DType dtype_of(const std::string& path, const std::string& name, at::ScalarType scalar_type) {
  for (const auto& pair : kScalarTypes) {
    if (pair.scalar_type == scalar_type) return pair.dtype;
  }
  fail("safetensors", "'{}': tensor '{}' has type {}, which safetensors cannot store here (supported: "
       "Double Float Half BFloat16 Long Int Short Byte Char Bool)", path, name, c10::toString(scalar_type));
}

void write_u64_le(std::ostream& out, uint64_t value) {
  char bytes[8];
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((value >> (8 * i)) & 0xff);
  out.write(bytes, 8);
}

}  // namespace

at::Tensor load_tensor(const SafetensorsFile& file, const TensorInfo& info) {
  const auto options = at::TensorOptions().dtype(scalar_type_of(info.dtype));
  uint8_t* bytes = file.data(info);
  if (reinterpret_cast<uintptr_t>(bytes) % dtype_size(info.dtype) == 0) {
    // The deleter owns a reference to the mapping, so the bytes outlive the file object.
    auto mapping = file.mapping();
    return at::from_blob(bytes, info.shape, [mapping](void*) {}, options);
  }
  at::Tensor copy = at::empty(info.shape, options);
  std::memcpy(copy.data_ptr(), bytes, info.end - info.begin);
  return copy;
}

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata, Int32Storage int32_storage) {
  std::set<std::string> seen;
  std::vector<at::Tensor> payload;
  std::vector<DType> dtypes;
  for (const auto& [name, tensor] : tensors) {
    if (name == "__metadata__") fail("safetensors", "'{}': '__metadata__' is reserved, not a tensor name", path);
    if (!seen.insert(name).second) fail("safetensors", "'{}': tensor name '{}' given twice", path, name);
    if (!tensor.defined()) fail("safetensors", "'{}': tensor '{}' is undefined", path, name);
    const DType dtype = dtype_of(path, name, tensor.scalar_type());
    dtypes.push_back(dtype == DType::I32 && int32_storage == Int32Storage::packed_u32 ? DType::U32 : dtype);
    payload.push_back(tensor.to(at::kCPU).contiguous());
  }

  // Data goes widest dtype first, so every tensor starts aligned to its element size and loads zero-copy.
  std::vector<size_t> layout(tensors.size());
  std::iota(layout.begin(), layout.end(), 0);
  std::stable_sort(layout.begin(), layout.end(),
                   [&](size_t a, size_t b) { return dtype_size(dtypes[a]) > dtype_size(dtypes[b]); });
  std::vector<uint64_t> begins(tensors.size());
  uint64_t offset = 0;
  for (size_t i : layout) {
    begins[i] = offset;
    offset += payload[i].nbytes();
  }

  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  for (size_t i = 0; i < tensors.size(); ++i) {
    header[tensors[i].first] = {{"dtype", std::string(dtype_name(dtypes[i]))},
                                {"shape", payload[i].sizes().vec()},
                                {"data_offsets", {begins[i], begins[i] + payload[i].nbytes()}}};
  }

  std::string header_text = header.dump();
  // Padding keeps the data buffer 8-byte aligned, so every dtype can be mapped in place.
  header_text.append((8 - header_text.size() % 8) % 8, ' ');
  write_file_atomically(path, [&](std::ostream& out) {
    write_u64_le(out, header_text.size());
    out.write(header_text.data(), static_cast<std::streamsize>(header_text.size()));
    for (size_t i : layout) {
      out.write(static_cast<const char*>(payload[i].data_ptr()), static_cast<std::streamsize>(payload[i].nbytes()));
    }
  });
}

}  // namespace flotilla::io
