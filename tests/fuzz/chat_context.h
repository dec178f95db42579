// The conversation both chat harnesses render: every role, a tool call and its result, and tools.
#pragma once
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "flotilla/chat_template.h"

namespace flotilla::fuzz {

inline const nlohmann::ordered_json& sample_messages() {
  static const auto messages = nlohmann::ordered_json::parse(R"([
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "What is the weather in Paris? Grüße 👋"},
    {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
      "function": {"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}}]},
    {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "{\"temp\": 21.5}"},
    {"role": "assistant", "content": "It is 21.5 °C in Paris."},
    {"role": "user", "content": "Thanks!"}
  ])");
  return messages;
}

inline const nlohmann::ordered_json& sample_extra() {
  static const auto extra = nlohmann::ordered_json::parse(R"({
    "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather by city",
      "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                     "required": ["city"]}}}],
    "date_string": "26 Nov 2026"
  })");
  return extra;
}

// Bounds below the defaults keep each input fast; the limits themselves are what is under test.
inline TemplateLimits fuzz_limits() {
  TemplateLimits limits;
  limits.max_loop_iterations = 10'000;
  limits.max_output_bytes = 1 << 20;
  return limits;
}

// The real templates of ../shared (chat_templates/ and each tokenizer folder's *.jinja), sorted:
// fuzz_chat_messages picks one by index, so the seeds and the harness must list them alike.
inline std::vector<std::filesystem::path> real_template_paths(const std::filesystem::path& shared_dir) {
  namespace fs = std::filesystem;
  std::vector<fs::path> paths;
  auto add_folder = [&](const fs::path& folder) {
    if (!fs::is_directory(folder)) return;
    for (const auto& entry : fs::directory_iterator(folder)) {
      if (entry.is_regular_file() && entry.path().extension() == ".jinja") paths.push_back(entry.path());
    }
  };
  add_folder(shared_dir / "chat_templates");
  if (fs::is_directory(shared_dir / "tokenizers")) {
    for (const auto& entry : fs::directory_iterator(shared_dir / "tokenizers")) add_folder(entry.path());
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

}  // namespace flotilla::fuzz
