// JSONL input with bounded memory: lines are read one at a time (or again by byte offset), a UTF-8
// BOM at the start of the file is skipped, a trailing \r is stripped (CRLF files), and lines longer
// than the limit are reported without being held in memory.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "flotilla/dataset_formats.h"

namespace flotilla::data {

// A problem with one record. The caller adds "file:line" (and column when set) and decides whether
// to fail or to count a skip (--skip-invalid).
struct RecordError : std::runtime_error {
  explicit RecordError(const std::string& message, size_t column = 0)
      : std::runtime_error(message), column(column) {}
  size_t column;  // 1-based byte column within the line; 0 when it does not apply
};

// "file:line: message" or "file:line:column: message".
std::string describe(const std::string& path, uint64_t line_number, const RecordError& error);

struct Line {
  uint64_t number = 0;  // 1-based
  uint64_t offset = 0;  // byte offset of the line in the file
  std::string text;     // without the newline, the \r before it, or a leading BOM
  bool too_long = false;  // longer than the limit: text is empty, the rest of the line was skipped
  bool blank() const;     // only spaces and tabs (or nothing)
};

class LineReader {
 public:
  explicit LineReader(const std::string& path, size_t max_line_bytes = kMaxLineBytes);
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // Reads the next line in order; false at end of file.
  bool next(Line& line);
  // Reads the line starting at offset (as returned by next) without moving the sequential position.
  std::string read_at(uint64_t offset) const;
  const std::string& path() const { return path_; }

 private:
  bool fill();
  std::string path_;
  size_t max_line_bytes_;
  int fd_ = -1;
  std::unique_ptr<char[]> buffer_;  // not zero-filled: a short file touches one page of it
  size_t begin_ = 0, end_ = 0;  // unread bytes of buffer_
  uint64_t buffer_offset_ = 0;  // file offset of buffer_[0]
  uint64_t line_number_ = 0;
};

// Checks UTF-8, parses one JSON object; RecordError names the byte or column at fault.
nlohmann::ordered_json parse_record(std::string_view text);

// JSON type name for messages ("string", "number", "array", ...).
std::string type_name(const nlohmann::ordered_json& value);

// 64-bit FNV-1a with a final avalanche (splitmix64): the same on every platform.
uint64_t hash64(std::string_view bytes);

}  // namespace flotilla::data
