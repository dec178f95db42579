#include "data/dataset.h"

#include <filesystem>

#include "core/error.h"
#include "data/jsonl.h"

namespace flotilla::data {

DatasetSplit load_dataset_split(const std::string& dir, const std::string& name) {
  if (!std::filesystem::is_directory(dir)) fail("data", "data folder '{}' does not exist", dir);
  DatasetSplit split;
  split.name = name;
  split.path = (std::filesystem::path(dir) / (name + ".jsonl")).string();
  if (!std::filesystem::exists(split.path)) return split;

  const FieldNames fields;
  LineReader reader(split.path);
  Line line;
  uint64_t first_line = 0;
  while (reader.next(line)) {
    if (line.blank()) continue;
    try {
      if (line.too_long) throw RecordError(fmt::format("line is longer than {} bytes", kMaxLineBytes));
      auto record = parse_record(line.text);
      if (first_line == 0) {
        auto format = detect_format(record, fields, /*allow_dolly=*/false);
        if (!format) {
          throw RecordError("Unsupported data format, check the supported formats here:\n"
                            "https://github.com/ml-explore/mlx-lm/blob/main/mlx_lm/LORA.md#Data.");
        }
        split.format = *format;
        first_line = line.number;
      }
      try {
        validate_record(record, split.format, fields);
      } catch (const RecordError& e) {
        if (line.number == first_line) throw;
        throw RecordError(fmt::format("{} (the file is {}, from line {})", e.what(), format_name(split.format), first_line));
      }
      split.records.push_back(std::move(record));
    } catch (const RecordError& e) {
      fail("data", "{}", describe(split.path, line.number, e));
    }
  }
  return split;
}

Datasets load_datasets(const std::string& dir, bool for_training, bool for_testing) {
  Datasets data{load_dataset_split(dir, "train"), load_dataset_split(dir, "valid"), load_dataset_split(dir, "test")};
  if (for_training && data.train.empty()) {
    fail("data", "Training set not found or empty. Must provide training set for fine-tuning.");
  }
  if (for_testing && data.test.empty()) fail("data", "Test set not found or empty. Must provide test set for evaluation.");
  return data;
}

}  // namespace flotilla::data
