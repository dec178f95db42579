// Where the llama_peer program is and how it is built or brought up to date, for bench_mission and for the
// GGUF export tests: scripts/setup_llama_peer.sh installs llama.cpp, then CMake builds the program.
#pragma once
#include <filesystem>
#include <string>

namespace flotilla::llama_peer {

inline std::filesystem::path binary(const std::filesystem::path& source_dir) {
  return source_dir / "build" / "llama-peer" / "build" / "llama_peer";
}

// "" when the program is there and up to date with its source (built now if need be), else why not.
// One build at a time (tests run in parallel). run(command) returns an object with exit_code and
// output (bench's and the tests' run_command both do).
template <typename Run>
std::string ensure_built(const std::filesystem::path& source_dir, Run&& run) {
  const std::string source = source_dir.string(), peer = source + "/build/llama-peer";
  auto built = run("mkdir -p " + peer + " && flock " + peer + ".lock sh -c '" + source +
                   "/scripts/setup_llama_peer.sh >/dev/null && cmake -S " + source + "/bench/llama_peer -B " + peer +
                   "/build -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build " + peer + "/build >/dev/null'");
  return built.exit_code == 0 ? "" : "installing or building bench/llama_peer failed: " + built.output;
}

}  // namespace flotilla::llama_peer
