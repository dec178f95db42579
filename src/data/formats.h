// Record formats: the Dolly input of the tutorial and mlx-lm's three training formats
// (https://github.com/ml-explore/mlx-lm/blob/main/mlx_lm/LORA.md#Data):
//   messages           {"messages": [{"role": "user", "content": "..."}, ...], "tools": [...]}
//   prompt-completion  {"prompt": "...", "completion": "..."}
//   text               {"text": "..."}
//   dolly (input only) {"instruction", "context", "response", "category"} -> messages
// Validation throws RecordError naming the field; callers add the file and line.
#pragma once
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

#include "flotilla/dataset_formats.h"

namespace flotilla::data {

// mlx-lm's order (prompt+completion, messages, then text), with Dolly tried before text when
// allowed. nullopt when the record has none of the keys.
std::optional<RecordFormat> detect_format(const nlohmann::ordered_json& record, const FieldNames& fields,
                                          bool allow_dolly);

// Checks every field the format needs: present, the right type, not empty.
void validate_record(const nlohmann::ordered_json& record, RecordFormat format, const FieldNames& fields);

struct ConvertedRecord {
  nlohmann::ordered_json output;  // what goes into train/valid/test.jsonl
  std::string category;           // for stratified splits; "" when the record has none
};

// Validates input records and turns them into mlx-lm records. The category is never written out:
// it only steers stratification, so records that differ only by category are duplicates.
class RecordConverter {
 public:
  // format nullopt: detected from the first record converted, then required of every later one.
  RecordConverter(std::optional<RecordFormat> format, FieldNames fields, std::string system_prompt = "");
  ConvertedRecord convert(const nlohmann::ordered_json& record);
  std::optional<RecordFormat> format() const { return format_; }

 private:
  std::optional<RecordFormat> format_;
  FieldNames fields_;
  std::string system_prompt_;  // prepended as a system message to Dolly records when not empty
};

}  // namespace flotilla::data
