// JSONL datasets: the line reader, record parsing, format detection and conversion as prepare runs
// them, and load_dataset_split as train runs it. Input: a mode byte, then the file. A bad record throws RecordError
// (its callers add file:line and turn it into flotilla::Error); both are expected outcomes.
#include <cstdlib>

#include "core/error.h"
#include "data/dataset.h"
#include "data/formats.h"
#include "data/jsonl.h"
#include "data/training_examples.h"
#include "fuzz_input.h"

namespace {

using namespace flotilla::data;

constexpr size_t kLineLimit = 1024;  // small, so that over-long lines are exercised too

void convert_all(const std::string& path, RecordConverter converter) {
  LineReader reader(path, kLineLimit);
  Line line;
  while (reader.next(line)) {
    if (line.blank() || line.too_long) continue;
    if (reader.read_at(line.offset) != line.text) std::abort();  // prepare's second pass re-reads by offset
    try {
      const ConvertedRecord converted = converter.convert(parse_record(line.text));
      (void)hash64(converted.output.dump());
      if (converted.output.contains("messages")) (void)render_plain(converted.output["messages"], true);
    } catch (const RecordError&) {
    }
  }
}

}  // namespace

// The first byte picks the reader ('0' to '5' in the seeds): train's loader, prepare's with the
// format detected, or with each format forced. One reader per input: each maps a 1 MiB buffer,
// the bulk of the time under ASan.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const flotilla::fuzz::ScratchDir dir;
  if (size == 0) return 0;
  dir.write("train.jsonl", flotilla::fuzz::as_text(data + 1, size - 1));
  const std::string path = (dir.path() / "train.jsonl").string();
  const RecordFormat formats[] = {RecordFormat::dolly, RecordFormat::messages, RecordFormat::prompt_completion,
                                  RecordFormat::text};
  const int mode = data[0] % 6;
  try {
    if (mode == 0) {
      (void)load_dataset_split(dir.path().string(), "train");
    } else if (mode == 1) {
      convert_all(path, RecordConverter(std::nullopt, FieldNames{}));
    } else {
      const RecordFormat format = formats[mode - 2];
      convert_all(path, RecordConverter(format, FieldNames{}, format == RecordFormat::dolly ? "Be brief." : ""));
    }
  } catch (const flotilla::Error&) {
  }
  return 0;
}
