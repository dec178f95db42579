// Small helpers shared by the io tests: raw file bytes, hand-made safetensors and error checks.
#pragma once
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <string>

#include "core/error.h"
#include "support/error_message.h"

namespace flotilla::test {

inline std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string u64_le(uint64_t value) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((value >> (8 * i)) & 0xff);
  return bytes;
}

// A safetensors file built by hand: length prefix, header text as given (no padding), data bytes.
inline std::string compose_safetensors(const std::string& header_json, const std::string& data) {
  return u64_le(header_json.size()) + header_json + data;
}


inline void expect_contains(const std::string& message, std::initializer_list<std::string> phrases) {
  for (const auto& phrase : phrases) {
    EXPECT_NE(message.find(phrase), std::string::npos) << "missing '" << phrase << "' in: " << message;
  }
}

}  // namespace flotilla::test
