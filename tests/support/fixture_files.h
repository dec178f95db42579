// Reading fixture files (bytes, JSON) for tests; a file that cannot be read fails the test.
#pragma once
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/file.h"

namespace flotilla::test {

// The whole file as bytes; throws (failing the test) when it cannot be read.
inline std::string read_file(const std::filesystem::path& path) { return flotilla::read_file(path, "test"); }

inline nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  return nlohmann::json::parse(in);
}

}  // namespace flotilla::test
