// Training data as mlx-lm's --data folder holds it: train.jsonl, valid.jsonl, test.jsonl, each in
// one of the formats of formats.h (messages with optional tools, prompt-completion, text). The
// format of a file is detected from its first record, as mlx-lm does, and every line is validated
// against it, with errors that name file:line. Blank lines are skipped; CRLF and a BOM are accepted.
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "data/formats.h"

namespace flotilla::data {

struct DatasetSplit {
  std::string name;  // "train", "valid" or "test"
  std::string path;
  RecordFormat format = RecordFormat::messages;  // meaningful only when not empty
  std::vector<nlohmann::ordered_json> records;

  bool empty() const { return records.empty(); }
  size_t size() const { return records.size(); }
};

// Reads dir/<name>.jsonl; an empty split when the file does not exist.
DatasetSplit load_dataset_split(const std::string& dir, const std::string& name);

struct Datasets {
  DatasetSplit train, valid, test;
};

// mlx-lm's load_dataset: train must be non-empty when training, test when testing (same messages,
// e.g. "Training set not found or empty. Must provide training set for fine-tuning."); valid may be empty.
Datasets load_datasets(const std::string& dir, bool for_training, bool for_testing);

}  // namespace flotilla::data
