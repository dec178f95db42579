// Where the llama_peer program is and how it is built when missing, for bench_mission and for the
// GGUF export tests: scripts/setup_llama_peer.sh installs llama.cpp, then CMake builds the program.
#pragma once
#include <filesystem>
#include <string>

namespace flotilla::llama_peer {

inline std::filesystem::path binary(const std::filesystem::path& source_dir) {
  return source_dir / "build" / "llama-peer" / "build" / "llama_peer";
}

// "" when the program is there (built now if need be), else why not. run(command) returns an
// object with exit_code and output (bench's and the tests' run_command both do).
template <typename Run>
std::string ensure_built(const std::filesystem::path& source_dir, Run&& run) {
  if (std::filesystem::exists(binary(source_dir))) return "";
  const std::string source = source_dir.string();
  auto installed = run(source + "/scripts/setup_llama_peer.sh");
  if (installed.exit_code != 0) return "scripts/setup_llama_peer.sh failed: " + installed.output;
  auto built = run("cmake -S " + source + "/bench/llama_peer -B " + source +
                   "/build/llama-peer/build -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build " + source +
                   "/build/llama-peer/build");
  return built.exit_code == 0 ? "" : "building bench/llama_peer failed: " + built.output;
}

}  // namespace flotilla::llama_peer
