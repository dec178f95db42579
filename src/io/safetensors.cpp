#include "io/safetensors.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <limits>
#include <set>

#include "core/error.h"

namespace flotilla::io {

namespace {

struct DTypeEntry {
  DType dtype;
  std::string_view name;
  size_t size;
};

constexpr DTypeEntry kDTypes[] = {
    {DType::F64, "F64", 8}, {DType::F32, "F32", 4}, {DType::F16, "F16", 2}, {DType::BF16, "BF16", 2},
    {DType::I64, "I64", 8}, {DType::I32, "I32", 4}, {DType::U32, "U32", 4}, {DType::I16, "I16", 2},
    {DType::U8, "U8", 1},   {DType::I8, "I8", 1},   {DType::BOOL, "BOOL", 1},
};

const DTypeEntry& entry_of(DType dtype) {
  for (const auto& entry : kDTypes) {
    if (entry.dtype == dtype) return entry;
  }
  fail("safetensors", "invalid DType value {}", static_cast<int>(dtype));
}

// Guards against a hostile header asking the JSON parser for gigabytes.
constexpr uint64_t kMaxHeaderBytes = 100u * 1000 * 1000;

std::string supported_dtype_names() {
  std::string names;
  for (const auto& entry : kDTypes) names += (names.empty() ? "" : " ") + std::string(entry.name);
  return names;
}

// A JSON integer in [0, max]; floats, negatives and strings are rejected.
bool as_count(const nlohmann::json& value, uint64_t max, uint64_t& out) {
  if (value.is_number_unsigned()) {
    out = value.get<uint64_t>();
    return out <= max;
  }
  if (value.is_number_integer() && value.get<int64_t>() >= 0) {
    out = static_cast<uint64_t>(value.get<int64_t>());
    return out <= max;
  }
  return false;
}

// Parses the header, rejecting a top-level key that appears twice (nlohmann would keep the last silently).
nlohmann::json parse_header(const std::string& path, const uint8_t* begin, uint64_t length) {
  std::set<std::string> top_keys;
  std::string duplicate;
  auto on_event = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    if (event == nlohmann::json::parse_event_t::key && depth == 1) {
      const auto key = parsed.get<std::string>();
      if (!top_keys.insert(key).second) duplicate = key;
    }
    return true;
  };
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(begin, begin + length, on_event);
  } catch (const nlohmann::json::parse_error& e) {
    fail("safetensors", "'{}': header is not valid JSON (parse error at byte {} of the {}-byte header): {}", path,
         e.byte, length, e.what());
  } catch (const nlohmann::json::out_of_range& e) {  // a number like 1e999
    fail("safetensors", "'{}': header is not valid JSON: {}", path, e.what());
  }
  if (!duplicate.empty()) fail("safetensors", "'{}': header lists '{}' twice", path, duplicate);
  return header;
}

void parse_metadata(const std::string& path, const nlohmann::json& value, std::map<std::string, std::string>& out) {
  if (!value.is_object()) {
    fail("safetensors", "'{}': __metadata__ is {}, expected an object of string values", path, value.type_name());
  }
  for (const auto& [key, item] : value.items()) {
    if (!item.is_string()) {
      fail("safetensors", "'{}': __metadata__ value for '{}' is {} ({}), expected a string", path, key,
           item.type_name(), item.dump());
    }
    out[key] = item.get<std::string>();
  }
}

TensorInfo parse_tensor(const std::string& path, const std::string& name, const nlohmann::json& entry,
                        uint64_t data_size) {
  if (!entry.is_object()) {
    fail("safetensors", "'{}': entry for tensor '{}' is {}, expected an object", path, name, entry.type_name());
  }
  TensorInfo info;
  info.name = name;

  auto dtype_it = entry.find("dtype");
  if (dtype_it == entry.end()) fail("safetensors", "'{}': tensor '{}' has no dtype", path, name);
  if (!dtype_it->is_string()) {
    fail("safetensors", "'{}': tensor '{}' has dtype {}, expected a string", path, name, dtype_it->dump());
  }
  const auto dtype_text = dtype_it->get<std::string>();
  auto known =
      std::find_if(std::begin(kDTypes), std::end(kDTypes), [&](const auto& e) { return e.name == dtype_text; });
  if (known == std::end(kDTypes)) {
    fail("safetensors", "'{}': tensor '{}' has unknown dtype '{}' (supported: {})", path, name, dtype_text,
         supported_dtype_names());
  }
  info.dtype = known->dtype;

  auto shape_it = entry.find("shape");
  if (shape_it == entry.end() || !shape_it->is_array()) {
    fail("safetensors", "'{}': tensor '{}' has shape {}, expected an array of non-negative integers", path, name,
         shape_it == entry.end() ? std::string("missing") : shape_it->dump());
  }
  uint64_t numel = 1;
  bool numel_overflow = false;
  for (const auto& dim : *shape_it) {
    uint64_t extent = 0;
    if (!as_count(dim, std::numeric_limits<int64_t>::max(), extent)) {
      fail("safetensors", "'{}': tensor '{}' has shape {} with dimension {}, expected non-negative integers", path,
           name, shape_it->dump(), dim.dump());
    }
    info.shape.push_back(static_cast<int64_t>(extent));
    numel_overflow |= __builtin_mul_overflow(numel, extent, &numel);
  }

  auto offsets_it = entry.find("data_offsets");
  uint64_t begin = 0, end = 0;
  if (offsets_it == entry.end() || !offsets_it->is_array() || offsets_it->size() != 2 ||
      !as_count((*offsets_it)[0], std::numeric_limits<uint64_t>::max(), begin) ||
      !as_count((*offsets_it)[1], std::numeric_limits<uint64_t>::max(), end) || begin > end) {
    fail("safetensors", "'{}': tensor '{}' has data_offsets {}, expected [begin, end] with 0 <= begin <= end", path,
         name, offsets_it == entry.end() ? std::string("missing") : offsets_it->dump());
  }
  if (end > data_size) {
    fail("safetensors", "'{}': tensor '{}' ends at byte {} beyond data size {}", path, name, end, data_size);
  }
  info.begin = begin;
  info.end = end;

  uint64_t expected_bytes = 0;
  const bool bytes_overflow = numel_overflow || __builtin_mul_overflow(numel, known->size, &expected_bytes);
  if (bytes_overflow || expected_bytes != end - begin) {
    fail("safetensors", "'{}': tensor '{}' spans {} bytes [{}, {}), but {} shape {} needs {}", path, name,
         end - begin, begin, end, dtype_text, shape_it->dump(),
         bytes_overflow ? std::string("more than 2^64 bytes") : fmt::format("{} bytes", expected_bytes));
  }
  return info;
}

// Tensors may leave gaps but must not share bytes: writing one would silently change another.
void check_no_overlap(const std::string& path, std::vector<TensorInfo> tensors) {
  std::sort(tensors.begin(), tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  for (size_t i = 1; i < tensors.size(); ++i) {
    const auto& prev = tensors[i - 1];
    const auto& cur = tensors[i];
    if (cur.begin < prev.end) {
      fail("safetensors", "'{}': tensors '{}' [{}, {}) and '{}' [{}, {}) overlap", path, prev.name, prev.begin,
           prev.end, cur.name, cur.begin, cur.end);
    }
  }
}

}  // namespace

size_t dtype_size(DType dtype) { return entry_of(dtype).size; }

std::string_view dtype_name(DType dtype) { return entry_of(dtype).name; }

int64_t TensorInfo::numel() const {
  int64_t count = 1;
  for (int64_t extent : shape) count *= extent;
  return count;
}

SafetensorsFile::SafetensorsFile(const std::string& path) : file_(MappedFile::open(path)) {
  const uint64_t file_size = file_->size();
  if (file_size < 8) {
    fail("safetensors", "'{}': file is {} bytes, shorter than the 8-byte header length", path, file_size);
  }
  uint64_t header_length = 0;
  for (int i = 7; i >= 0; --i) header_length = (header_length << 8) | file_->data()[i];  // little-endian
  if (header_length > kMaxHeaderBytes) {
    fail("safetensors", "'{}': header length {} exceeds the {}-byte limit", path, header_length, kMaxHeaderBytes);
  }
  if (header_length > file_size - 8) {
    fail("safetensors", "'{}': header length {} extends beyond file size {} (at most {} bytes follow the length)",
         path, header_length, file_size, file_size - 8);
  }
  const nlohmann::json header = parse_header(path, file_->data() + 8, header_length);
  if (!header.is_object()) fail("safetensors", "'{}': header is {}, expected a JSON object", path, header.type_name());

  const uint64_t data_size = file_size - 8 - header_length;
  data_begin_ = file_->data() + 8 + header_length;
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      parse_metadata(path, value, metadata_);
    } else {
      tensors_.push_back(parse_tensor(path, key, value, data_size));
    }
  }
  check_no_overlap(path, tensors_);
  std::sort(tensors_.begin(), tensors_.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
  auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                             [](const TensorInfo& info, const std::string& key) { return info.name < key; });
  return it != tensors_.end() && it->name == name ? &*it : nullptr;
}

const TensorInfo& SafetensorsFile::at(const std::string& name) const {
  const TensorInfo* info = find(name);
  if (info == nullptr) fail("safetensors", "'{}': no tensor '{}'", path(), name);
  return *info;
}

}  // namespace flotilla::io
