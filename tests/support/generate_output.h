// What `flotilla generate` printed: the text between its "==========" lines and its stats.
#pragma once
#include <gtest/gtest.h>

#include <regex>
#include <string>

#include "support/run.h"

namespace flotilla::test {

inline std::string generated_text(const RunResult& r) {
  std::smatch m;
  EXPECT_TRUE(std::regex_search(r.output, m, std::regex("==========\n([^]*)\n==========\n"))) << r.output;
  return m.empty() ? "" : std::string(m[1]);
}

// N of the "<what>: N tokens" stats line ("Prompt" or "Generation"); -1 when it is missing.
inline int stats_tokens(const RunResult& r, const std::string& what) {
  std::smatch m;
  EXPECT_TRUE(std::regex_search(r.output, m, std::regex(what + ": (\\d+) tokens"))) << r.output;
  return m.empty() ? -1 : std::stoi(m[1]);
}

}  // namespace flotilla::test
