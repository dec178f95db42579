// The dataset record formats Flotilla reads: the tutorial's Dolly input and mlx-lm's three training
// formats (messages, prompt-completion, text), and the input field names each format reads.
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace flotilla::data {

inline constexpr size_t kMaxLineBytes = size_t{64} << 20;  // longest JSONL line read: 64 MiB

enum class RecordFormat { dolly, messages, prompt_completion, text };

std::string_view format_name(RecordFormat format);      // "dolly", "prompt-completion", ...
std::optional<RecordFormat> parse_format(std::string_view name);  // nullopt for "auto"; throws if unknown

// Input key for each field (the --*-field flags). Output keys are always mlx-lm's.
struct FieldNames {
  std::string instruction = "instruction";
  std::string context = "context";
  std::string response = "response";
  std::string category = "category";
  std::string prompt = "prompt";
  std::string completion = "completion";
  std::string text = "text";
  std::string messages = "messages";
};

}  // namespace flotilla::data
