// prepare: one JSONL file (Dolly, messages, prompt-completion or text) -> train/valid/test.jsonl
// in mlx-lm's formats, deduplicated and split by a seeded, stratified shuffle.
//
// Two passes keep memory bounded for any number of lines: pass 1 validates and converts every line
// and keeps only its byte offset, a 64-bit hash of the output record, its line number and category
// (24 bytes a record); pass 2 re-reads the kept lines by offset and writes the splits. Any bad
// record fails the whole run before anything is written (or is counted and skipped with
// skip_invalid). Exact duplicates (same output record, hash and bytes compared) keep their first
// occurrence, before splitting, so no example lands in two splits.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "flotilla/dataset_formats.h"

namespace flotilla::data {

struct PrepareOptions {
  std::string input;    // JSONL file
  std::string out_dir;  // gets train.jsonl, valid.jsonl, and test.jsonl when test_fraction > 0
  double valid_fraction = 0.2;
  double test_fraction = 0.0;
  uint64_t seed = 0;
  std::optional<RecordFormat> format;  // nullopt: detected from the first record
  FieldNames fields;
  std::string system_prompt;  // Dolly only; empty = no system message (the tutorial had none)
  std::string model_dir;      // when set, records longer than max_seq_length tokens are dropped
  int64_t max_seq_length = 2048;
  bool skip_invalid = false;
  size_t max_line_bytes = kMaxLineBytes;
};

struct PrepareReport {
  RecordFormat format = RecordFormat::messages;
  uint64_t lines = 0;          // lines read, blank ones included
  uint64_t blank = 0;          // blank lines skipped
  uint64_t invalid = 0;        // records skipped under skip_invalid
  uint64_t duplicates = 0;     // exact duplicates removed
  uint64_t too_long = 0;       // over max_seq_length tokens (counted before deduplication)
  uint64_t train = 0, valid = 0, test = 0;
  std::vector<std::string> invalid_reasons;  // the first few, "file:line: reason"
  std::vector<std::string> written;          // output paths, in order train, valid, test
  std::vector<std::string> warnings;
};

PrepareReport prepare_dataset(const PrepareOptions& options);

// The counts, one per line, as the CLI prints them.
std::string format_report(const PrepareReport& report, const PrepareOptions& options);

}  // namespace flotilla::data
