#include "data/jsonl.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "unicode/utf8.h"

namespace flotilla::data {

namespace {

constexpr size_t kChunk = size_t{1} << 20;
constexpr std::string_view kBom = "\xEF\xBB\xBF";

void strip_line_end(std::string& text, uint64_t offset) {
  if (!text.empty() && text.back() == '\r') text.pop_back();
  if (offset == 0 && text.compare(0, kBom.size(), kBom) == 0) text.erase(0, kBom.size());
}

}  // namespace

std::string describe(const std::string& path, uint64_t line_number, const RecordError& error) {
  if (error.column > 0) return fmt::format("{}:{}:{}: {}", path, line_number, error.column, error.what());
  return fmt::format("{}:{}: {}", path, line_number, error.what());
}

bool Line::blank() const { return !too_long && text.find_first_not_of(" \t") == std::string::npos; }

LineReader::LineReader(const std::string& path, size_t max_line_bytes)
    : path_(path), max_line_bytes_(max_line_bytes), buffer_(new char[kChunk]) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) fail("data", "cannot open '{}': {}", path, std::strerror(errno));
}

LineReader::~LineReader() {
  if (fd_ >= 0) ::close(fd_);
}

bool LineReader::fill() {
  buffer_offset_ += end_;
  begin_ = end_ = 0;
  ssize_t n;
  do {
    n = ::read(fd_, buffer_.get(), kChunk);
  } while (n < 0 && errno == EINTR);
  if (n < 0) fail("data", "cannot read '{}': {}", path_, std::strerror(errno));
  end_ = static_cast<size_t>(n);
  return n > 0;
}

bool LineReader::next(Line& line) {
  if (begin_ == end_ && !fill()) return false;
  line.number = ++line_number_;
  line.offset = buffer_offset_ + begin_;
  line.text.clear();
  line.too_long = false;
  while (true) {
    const char* start = buffer_.get() + begin_;
    const auto* newline = static_cast<const char*>(std::memchr(start, '\n', end_ - begin_));
    const size_t take = newline ? static_cast<size_t>(newline - start) : end_ - begin_;
    // +1 leaves room for the \r of a CRLF line that is exactly at the limit.
    if (!line.too_long && line.text.size() + take > max_line_bytes_ + 1) {
      line.too_long = true;
      line.text.clear();
      line.text.shrink_to_fit();
    }
    if (!line.too_long) line.text.append(start, take);
    begin_ += take + (newline ? 1 : 0);
    if (newline || (begin_ == end_ && !fill())) break;
  }
  if (!line.too_long) strip_line_end(line.text, line.offset);
  if (line.text.size() > max_line_bytes_) {
    line.too_long = true;
    line.text.clear();
  }
  return true;
}

std::string LineReader::read_at(uint64_t offset) const {
  std::string text;
  // Lines are usually short: read 1 KiB, then twice as much each time the newline is not there yet.
  for (size_t chunk = 1024;; chunk = std::min(chunk * 2, kChunk)) {
    const size_t old_size = text.size();
    text.resize(old_size + chunk);
    ssize_t n = ::pread(fd_, text.data() + old_size, chunk, static_cast<off_t>(offset + old_size));
    if (n < 0 && errno == EINTR) {
      text.resize(old_size);
      continue;
    }
    if (n < 0) fail("data", "cannot read '{}' at byte {}: {}", path_, offset, std::strerror(errno));
    const auto* newline = static_cast<const char*>(std::memchr(text.data() + old_size, '\n', static_cast<size_t>(n)));
    text.resize(newline ? static_cast<size_t>(newline - text.data()) : old_size + static_cast<size_t>(n));
    if (newline || n == 0) break;
    if (text.size() > max_line_bytes_ + 1) fail("data", "'{}': line at byte {} grew past the limit (file changed?)", path_, offset);
  }
  strip_line_end(text, offset);
  return text;
}

nlohmann::ordered_json parse_record(std::string_view text) {
  for (size_t pos = 0; pos < text.size();) {
    if (static_cast<unsigned char>(text[pos]) < 0x80) {
      ++pos;
      continue;
    }
    const size_t length = unicode::valid_length(text, pos);
    if (length == 0) {
      throw RecordError(fmt::format("invalid UTF-8 at byte offset {} of the line (byte 0x{:02x})", pos,
                                    static_cast<unsigned char>(text[pos])));
    }
    pos += length;
  }
  nlohmann::ordered_json record;
  try {
    record = nlohmann::ordered_json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::parse_error& e) {
    // what() reads "[json.exception.parse_error.101] parse error at line 1, column 5: <reason>".
    std::string reason = e.what();
    const size_t colon = reason.find(": ", reason.find("column"));
    if (colon != std::string::npos) reason = reason.substr(colon + 2);
    throw RecordError("invalid JSON: " + reason, std::max<size_t>(e.byte, 1));
  } catch (const nlohmann::json::out_of_range& e) {  // a number like 1e999
    throw RecordError(std::string("invalid JSON: ") + e.what());
  }
  if (!record.is_object()) throw RecordError("expected a JSON object, got " + type_name(record));
  return record;
}

std::string type_name(const nlohmann::ordered_json& value) {
  if (value.is_number()) return "number";
  return value.type_name();
}

uint64_t hash64(std::string_view bytes) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : bytes) h = (h ^ c) * 0x100000001b3ull;
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  return h ^ (h >> 31);
}

}  // namespace flotilla::data
