// llama.cpp on the same shapes, for bench_mission: writes the GGUF twin of a mission model and
// runs bench/llama_peer (built against the npm package by scripts/setup_llama_peer.sh) on it.
#pragma once
#include <string>

#include "model/config.h"

namespace flotilla {

struct PeerResult {
  bool ok = false;
  std::string error;  // why it did not run
  double prompt_tokens_per_sec = 0, decode_tokens_per_sec = 0, peak_memory_gb = 0, file_bytes = 0;
};

inline std::string llama_peer_description() { return "not wired yet"; }

inline PeerResult run_llama_peer(const ModelConfig&, int, int64_t, int64_t) {
  PeerResult r;
  r.error = "not wired yet";
  return r;
}

}  // namespace flotilla
