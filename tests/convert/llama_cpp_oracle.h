// llama.cpp as the reference for Flotilla's GGUF export: bench/llama_peer's `logits` mode run on an
// exported file, beside Flotilla's own logits and greedy tokens of the same model folder.
#pragma once
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "llama_peer_build.h"
#include "support/model_logits.h"
#include "support/fixture_files.h"
#include "support/run.h"

namespace flotilla::test {


// "" when llama_peer is built (building it if need be), else why not.
inline std::string llama_peer_missing() { return llama_peer::ensure_built(FLOTILLA_SOURCE_DIR, run_command); }

inline std::string join_ids(const std::vector<int64_t>& ids) {
  std::string text;
  for (auto id : ids) text += (text.empty() ? "" : ",") + std::to_string(id);
  return text;
}

inline OracleRun llama_cpp_run(const std::filesystem::path& gguf, const std::vector<int64_t>& tokens, int greedy,
                               const std::string& text) {
  const auto dir = gguf.parent_path();
  std::ofstream(dir / "oracle-text.txt", std::ios::binary) << text;
  // In braces: run_command's own 2>&1 must not pull llama.cpp's log into the JSON report.
  const auto r = run_command("{ " + llama_peer::binary(FLOTILLA_SOURCE_DIR).string() + " logits --threads 2 --model " + gguf.string() +
                             " --tokens " + join_ids(tokens) + " --greedy " + std::to_string(greedy) + " --text-file " +
                             (dir / "oracle-text.txt").string() + " --logits-out " + (dir / "oracle-logits.f32").string() +
                             " 2>" + (dir / "oracle-stderr.txt").string() + "; }");
  OracleRun run;
  EXPECT_EQ(r.exit_code, 0) << r.output << read_file(dir / "oracle-stderr.txt");
  if (r.exit_code != 0) return run;
  const auto report = nlohmann::json::parse(r.output);
  run.greedy = report.at("greedy").get<std::vector<int64_t>>();
  run.tokenized = report.at("tokenized").get<std::vector<int64_t>>();
  const std::string bytes = read_file(dir / "oracle-logits.f32");
  const int64_t vocab = report.at("n_vocab").get<int64_t>();
  run.logits = at::empty({static_cast<int64_t>(tokens.size()), vocab}, at::kFloat);
  EXPECT_EQ(bytes.size(), run.logits.numel() * sizeof(float));
  std::memcpy(run.logits.data_ptr<float>(), bytes.data(), std::min<size_t>(bytes.size(), run.logits.numel() * sizeof(float)));
  return run;
}

}  // namespace flotilla::test
