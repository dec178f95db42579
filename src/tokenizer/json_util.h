// Reading tokenizer.json with errors that name the JSON path, e.g.
// "[tokenizer] pre_tokenizer.pretokenizers[1].pattern: expected an object with \"String\" or \"Regex\"".
#pragma once
#include <nlohmann/json.hpp>

#include <string>

#include "core/error.h"

namespace flotilla::tokenizer::json_util {

using Json = nlohmann::json;

inline std::string child(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}
inline std::string item(const std::string& path, size_t index) { return path + "[" + std::to_string(index) + "]"; }

inline const Json& field(const Json& object, const char* key, const std::string& path) {
  if (!object.is_object()) fail("tokenizer", "{}: expected an object, got {}", path, object.type_name());
  const auto it = object.find(key);
  if (it == object.end()) fail("tokenizer", "{}: missing field \"{}\"", path, key);
  return *it;
}

inline std::string string_field(const Json& object, const char* key, const std::string& path) {
  const Json& value = field(object, key, path);
  if (!value.is_string()) fail("tokenizer", "{}: expected a string, got {}", child(path, key), value.type_name());
  return value.get<std::string>();
}

// A boolean that may be absent or null (then `fallback`).
inline bool bool_field(const Json& object, const char* key, const std::string& path, bool fallback) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) fail("tokenizer", "{}: expected a boolean, got {}", child(path, key), it->type_name());
  return it->get<bool>();
}

inline int64_t int_field(const Json& object, const char* key, const std::string& path) {
  const Json& value = field(object, key, path);
  if (!value.is_number_integer()) fail("tokenizer", "{}: expected an integer, got {}", child(path, key), value.type_name());
  return value.get<int64_t>();
}

inline const Json& array_field(const Json& object, const char* key, const std::string& path) {
  const Json& value = field(object, key, path);
  if (!value.is_array()) fail("tokenizer", "{}: expected an array, got {}", child(path, key), value.type_name());
  return value;
}

inline std::string type_of(const Json& object, const std::string& path) { return string_field(object, "type", path); }

[[noreturn]] inline void unsupported(const char* component, const std::string& type, const std::string& path,
                                     const char* supported) {
  fail("tokenizer", "{}: unsupported {} type \"{}\" (supported: {})", path, component, type, supported);
}

}  // namespace flotilla::tokenizer::json_util
