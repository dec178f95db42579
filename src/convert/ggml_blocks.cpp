#include "convert/ggml_blocks.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "kernels/number_formats.h"

using namespace flotilla::kernels;

namespace flotilla::convert {

namespace {

constexpr size_t kBlock = 32;  // QK8_0 and QK4_0

void append_u16(std::vector<uint8_t>& out, uint16_t value) {
  out.push_back(static_cast<uint8_t>(value & 0xff));
  out.push_back(static_cast<uint8_t>(value >> 8));
}

uint16_t read_u16(const uint8_t* bytes) { return static_cast<uint16_t>(bytes[0] | (bytes[1] << 8)); }

void append_q8_0_block(const float* x, std::vector<uint8_t>& out) {
  float amax = 0;
  for (size_t j = 0; j < kBlock; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127;
  const float id = d != 0 ? 1.0f / d : 0.0f;
  append_u16(out, float_to_f16(d));
  for (size_t j = 0; j < kBlock; ++j) out.push_back(static_cast<uint8_t>(static_cast<int8_t>(std::round(x[j] * id))));
}

void append_q4_0_block(const float* x, std::vector<uint8_t>& out) {
  float amax = 0, max = 0;
  for (size_t j = 0; j < kBlock; ++j) {
    if (amax < std::fabs(x[j])) amax = std::fabs(x[j]), max = x[j];
  }
  const float d = max / -8;
  const float id = d != 0 ? 1.0f / d : 0.0f;
  append_u16(out, float_to_f16(d));
  auto code = [&](float v) { return static_cast<uint8_t>(std::min(15, static_cast<int>(static_cast<int8_t>(v * id + 8.5f)))); };
  for (size_t j = 0; j < kBlock / 2; ++j) out.push_back(static_cast<uint8_t>(code(x[j]) | (code(x[j + kBlock / 2]) << 4)));
}

void require_blocks(GgmlType type, size_t n) {
  if (n % kBlock != 0) fail("gguf", "a {} row of {} values is not a whole number of {}-value blocks", ggml_type_name(type), n, kBlock);
}

}  // namespace

void append_ggml_row(GgmlType type, const float* values, size_t n, std::vector<uint8_t>& out) {
  switch (type) {
    case GgmlType::F32: {
      const auto* bytes = reinterpret_cast<const uint8_t*>(values);
      out.insert(out.end(), bytes, bytes + n * sizeof(float));
      return;
    }
    case GgmlType::F16:
      for (size_t i = 0; i < n; ++i) append_u16(out, float_to_f16(values[i]));
      return;
    case GgmlType::BF16:
      for (size_t i = 0; i < n; ++i) append_u16(out, float_to_bf16(values[i]));
      return;
    case GgmlType::Q8_0:
      require_blocks(type, n);
      for (size_t b = 0; b < n; b += kBlock) append_q8_0_block(values + b, out);
      return;
    case GgmlType::Q4_0:
      require_blocks(type, n);
      for (size_t b = 0; b < n; b += kBlock) append_q4_0_block(values + b, out);
      return;
  }
  fail("gguf", "no encoder for ggml type id {}", static_cast<uint32_t>(type));
}

std::vector<float> decode_ggml_row(GgmlType type, const uint8_t* bytes, size_t n) {
  std::vector<float> values(n);
  if (type == GgmlType::F32) {
    std::memcpy(values.data(), bytes, n * sizeof(float));
  } else if (type == GgmlType::F16 || type == GgmlType::BF16) {
    for (size_t i = 0; i < n; ++i)
      values[i] = type == GgmlType::F16 ? f16_to_float(read_u16(bytes + 2 * i)) : bf16_to_float(read_u16(bytes + 2 * i));
  } else if (type == GgmlType::Q8_0) {
    require_blocks(type, n);
    for (size_t b = 0; b < n / kBlock; ++b, bytes += 2 + kBlock) {
      const float d = f16_to_float(read_u16(bytes));
      for (size_t j = 0; j < kBlock; ++j) values[b * kBlock + j] = d * static_cast<int8_t>(bytes[2 + j]);
    }
  } else if (type == GgmlType::Q4_0) {
    require_blocks(type, n);
    for (size_t b = 0; b < n / kBlock; ++b, bytes += 2 + kBlock / 2) {
      const float d = f16_to_float(read_u16(bytes));
      for (size_t j = 0; j < kBlock / 2; ++j) {
        values[b * kBlock + j] = d * ((bytes[2 + j] & 0x0f) - 8);
        values[b * kBlock + j + kBlock / 2] = d * ((bytes[2 + j] >> 4) - 8);
      }
    }
  } else {
    fail("gguf", "no decoder for ggml type id {}", static_cast<uint32_t>(type));
  }
  return values;
}

}  // namespace flotilla::convert
