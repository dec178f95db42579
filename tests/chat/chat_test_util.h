// Helpers for the chat template tests: fixture paths, JSON/text reading, readable string diffs.
#pragma once
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "support/paths.h"

namespace flotilla::test {

inline std::filesystem::path chat_golden_dir() { return std::filesystem::path(__FILE__).parent_path() / "golden"; }

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

inline nlohmann::ordered_json read_ordered_json(const std::filesystem::path& path) {
  return nlohmann::ordered_json::parse(read_text(path));
}

// Shows newlines and tabs so whitespace differences are visible.
inline std::string visible(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// Empty when equal; otherwise the first differing byte offset with 80 bytes of context on each side.
inline std::string describe_difference(const std::string& actual, const std::string& expected) {
  if (actual == expected) return {};
  size_t at = 0;
  while (at < actual.size() && at < expected.size() && actual[at] == expected[at]) ++at;
  size_t from = at > 80 ? at - 80 : 0;
  std::ostringstream out;
  out << "first difference at byte " << at << " (actual " << actual.size() << " bytes, expected " << expected.size()
      << ")\n  actual:   ..." << visible(actual.substr(from, at - from)) << "[[" << visible(actual.substr(at, 80))
      << "]]\n  expected: ..." << visible(expected.substr(from, at - from)) << "[[" << visible(expected.substr(at, 80))
      << "]]";
  return out.str();
}

}  // namespace flotilla::test
