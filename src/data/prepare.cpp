#include "flotilla/prepare.h"

#include "data/formats.h"
#include "data/jsonl.h"

#include <algorithm>
#include <deque>
#include <filesystem>
#include <numeric>
#include <unordered_map>

#include "core/atomic_file.h"
#include "core/error.h"
#include "data/split.h"
#include "data/token_length.h"

namespace flotilla::data {

namespace {

namespace fs = std::filesystem;

constexpr size_t kMaxReasons = 5;
constexpr size_t kMaxCategories = 1000;  // beyond this "category" is not a category: split unstratified

// What pass 1 keeps of a record.
struct Entry {
  uint64_t offset;
  uint64_t hash;  // of the output line
  uint32_t line;
  uint32_t category;
};
static_assert(sizeof(Entry) == 24);
// A deque grows in blocks, without the copy a vector makes when it doubles (the memory peak).
using Entries = std::deque<Entry>;

// The input file and the converter, shared by both passes so the detected format holds for both.
class Source {
 public:
  explicit Source(const PrepareOptions& options)
      : reader_(options.input, options.max_line_bytes),
        converter_(options.format, options.fields, options.system_prompt) {}

  LineReader& reader() { return reader_; }
  RecordConverter& converter() { return converter_; }

  // The output line of an entry, read again from the file.
  std::string output_at(const Entry& entry) {
    std::string line;
    try {
      line = converter_.convert(parse_record(reader_.read_at(entry.offset))).output.dump();
    } catch (const RecordError& e) {
      fail("prepare", "{} (did the file change while it was being prepared?)", describe(reader_.path(), entry.line, e));
    }
    if (hash64(line) != entry.hash) fail("prepare", "'{}' changed while it was being prepared (line {})", reader_.path(), entry.line);
    return line;
  }

 private:
  LineReader reader_;
  RecordConverter converter_;
};

// Pass 1: validate and convert every line, drop the ones over the token limit, keep 24 bytes each.
Entries scan(Source& source, const PrepareOptions& options, PrepareReport& report) {
  std::optional<TokenLength> token_length;
  if (!options.model_dir.empty()) token_length.emplace(options.model_dir);
  std::unordered_map<std::string, uint32_t> category_ids;
  bool stratify = true;
  Entries entries;
  Line line;
  while (source.reader().next(line)) {
    ++report.lines;
    if (line.blank()) {
      ++report.blank;
      continue;
    }
    if (line.number > UINT32_MAX) fail("prepare", "'{}' has more than {} lines", options.input, UINT32_MAX);
    try {
      if (line.too_long) throw RecordError(fmt::format("line is longer than {} bytes", options.max_line_bytes));
      auto converted = source.converter().convert(parse_record(line.text));
      if (token_length && (*token_length)(converted.output) > static_cast<size_t>(options.max_seq_length)) {
        ++report.too_long;
        continue;
      }
      uint32_t category = 0;
      if (stratify) {
        category = category_ids.emplace(converted.category, static_cast<uint32_t>(category_ids.size())).first->second;
        if (category_ids.size() > kMaxCategories) stratify = false;
      }
      entries.push_back({line.offset, hash64(converted.output.dump()), static_cast<uint32_t>(line.number), category});
    } catch (const RecordError& e) {
      const std::string reason = describe(options.input, line.number, e);
      if (!options.skip_invalid) fail("prepare", "{}", reason);
      ++report.invalid;
      if (report.invalid_reasons.size() < kMaxReasons) report.invalid_reasons.push_back(reason);
    }
  }
  if (!stratify) {
    report.warnings.push_back(fmt::format("more than {} distinct categories: split without stratification", kMaxCategories));
    for (auto& entry : entries) entry.category = 0;
  }
  if (source.converter().format()) report.format = *source.converter().format();
  return entries;
}

// Removes later copies of an output record. Equal hashes are confirmed by comparing the lines.
void remove_duplicates(Entries& entries, Source& source, PrepareReport& report) {
  std::vector<uint32_t> order(entries.size());
  std::iota(order.begin(), order.end(), 0u);
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    return entries[a].hash != entries[b].hash ? entries[a].hash < entries[b].hash : a < b;
  });
  std::vector<bool> duplicate(entries.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i + 1;
    while (j < order.size() && entries[order[j]].hash == entries[order[i]].hash) ++j;
    if (j - i > 1) {
      std::vector<std::string> distinct{source.output_at(entries[order[i]])};
      for (size_t k = i + 1; k < j; ++k) {
        std::string line = source.output_at(entries[order[k]]);
        if (std::find(distinct.begin(), distinct.end(), line) != distinct.end()) {
          duplicate[order[k]] = true;
        } else {
          distinct.push_back(std::move(line));
        }
      }
    }
    i = j;
  }
  size_t kept = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (!duplicate[i]) entries[kept++] = entries[i];
  }
  report.duplicates = entries.size() - kept;
  entries.resize(kept);
}

fs::path split_path(const PrepareOptions& options, const char* name) { return fs::path(options.out_dir) / (std::string(name) + ".jsonl"); }

void refuse_to_overwrite_input(const PrepareOptions& options) {
  for (const char* name : {"train", "valid", "test"}) {
    const fs::path path = split_path(options, name);
    std::error_code ec;
    if (fs::equivalent(path, options.input, ec)) fail("prepare", "refusing to write '{}': it is the input file", path.string());
  }
}

}  // namespace

PrepareReport prepare_dataset(const PrepareOptions& options) {
  check_split_fractions(options.valid_fraction, options.test_fraction);
  if (options.max_seq_length <= 0) fail("prepare", "max sequence length must be positive, got {}", options.max_seq_length);
  refuse_to_overwrite_input(options);

  PrepareReport report;
  Source source(options);
  Entries entries = scan(source, options, report);
  if (entries.empty() && report.invalid + report.too_long == 0) fail("prepare", "'{}' has no records", options.input);
  remove_duplicates(entries, source, report);

  std::vector<uint32_t> categories(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) categories[i] = entries[i].category;
  SplitIndices split = split_stratified(categories, options.valid_fraction, options.test_fraction, options.seed);
  categories = {};
  if (split.train.empty()) {
    fail("prepare", "no records left for train.jsonl: {} kept after {} invalid, {} too long and {} duplicates", entries.size(),
         report.invalid, report.too_long, report.duplicates);
  }

  // Pass 2: nothing has been written until here.
  std::error_code ec;
  fs::create_directories(options.out_dir, ec);
  if (ec) fail("prepare", "cannot create output folder '{}': {}", options.out_dir, ec.message());
  auto write_split = [&](const char* name, const std::vector<uint32_t>& indices, uint64_t& count) {
    const std::string path = split_path(options, name).string();
    write_file_atomically(path, [&](std::ostream& out) {
      for (uint32_t index : indices) out << source.output_at(entries[index]) << '\n';
    });
    count = indices.size();
    report.written.push_back(path);
  };
  write_split("train", split.train, report.train);
  write_split("valid", split.valid, report.valid);
  if (options.test_fraction > 0) {
    write_split("test", split.test, report.test);
  } else if (fs::exists(split_path(options, "test"))) {
    report.warnings.push_back(fmt::format("'{}' is from an earlier run and was left as it is", split_path(options, "test").string()));
  }
  return report;
}

std::string format_report(const PrepareReport& report, const PrepareOptions& options) {
  std::string text = fmt::format("Read {} lines from {} (format: {})\n", report.lines, options.input, format_name(report.format));
  text += fmt::format("  blank lines skipped: {}\n", report.blank);
  text += fmt::format("  invalid skipped:     {}\n", report.invalid);
  text += fmt::format("  duplicates removed:  {}\n", report.duplicates);
  if (!options.model_dir.empty()) text += fmt::format("  too long dropped:    {} (over {} tokens)\n", report.too_long, options.max_seq_length);
  const uint64_t counts[] = {report.train, report.valid, report.test};
  const char* names[] = {"train", "valid", "test"};
  for (size_t i = 0; i < report.written.size(); ++i) text += fmt::format("  {}: {} -> {}\n", names[i], counts[i], report.written[i]);
  if (!report.invalid_reasons.empty()) {
    text += fmt::format("Skipped {} invalid records; the first {}:\n", report.invalid, report.invalid_reasons.size());
    for (const auto& reason : report.invalid_reasons) text += "  " + reason + "\n";
  }
  for (const auto& warning : report.warnings) text += "warning: " + warning + "\n";
  return text;
}

}  // namespace flotilla::data
