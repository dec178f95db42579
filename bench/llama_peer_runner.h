// llama.cpp on the same shapes, for bench_mission: writes the GGUF twin of a mission model and
// runs bench/llama_peer (built against the npm package that scripts/setup_llama_peer.sh installs).
#pragma once
#include <fmt/format.h>

#include <filesystem>
#include <string>

#include "bench_measures.h"
#include "llama_peer/llama_peer_build.h"
#include "mission_shapes.h"

namespace flotilla {

struct PeerResult {
  bool ok = false;
  std::string error;  // why it did not run
  double prompt_tokens_per_sec = 0, decode_tokens_per_sec = 0, peak_memory_gb = 0, file_bytes = 0;
};

inline std::filesystem::path llama_peer_binary() { return llama_peer::binary(FLOTILLA_SOURCE_DIR); }

// Builds llama_peer when llama.cpp is installed and the program is not; "" on success.
inline std::string ensure_llama_peer() { return llama_peer::ensure_built(FLOTILLA_SOURCE_DIR, run_command); }

inline std::string llama_peer_description() {
  const auto error = ensure_llama_peer();
  return error.empty() ? "release v0.5.0 from npm @node-llama-cpp/linux-x64 3.22.1, its CPU backend, same threads" : error;
}

inline PeerResult run_llama_peer(const MissionShape& shape, int64_t prompt_tokens, int64_t decode_tokens, int threads) {
  PeerResult r;
  r.error = ensure_llama_peer();
  if (!r.error.empty()) return r;
  const auto path = std::filesystem::temp_directory_path() / fmt::format("flotilla-peer-{}.gguf", shape.name);
  const auto tokenizers = std::filesystem::path(FLOTILLA_SHARED_DIR) / "tokenizers";
  r.file_bytes = static_cast<double>(write_mission_gguf(shape, tokenizers / shape.tokenizer, path.string()).bytes);
  auto report = run_json_command(fmt::format("{} run --model {} --threads {} --prompt-tokens {} --decode-tokens {} 2>/dev/null",
                                             llama_peer_binary().string(), path.string(), threads, prompt_tokens,
                                             decode_tokens));
  std::filesystem::remove(path);
  if (report.is_null()) {
    r.error = "llama_peer printed no report";
    return r;
  }
  r.ok = true;
  r.prompt_tokens_per_sec = report["prompt_tokens_per_sec"];
  r.decode_tokens_per_sec = report["decode_tokens_per_sec"];
  r.peak_memory_gb = report["peak_rss_bytes"].get<double>() / 1e9;
  return r;
}

}  // namespace flotilla
