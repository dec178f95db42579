// "[64, 172]" style shape strings for error messages.
#pragma once
#include <c10/util/ArrayRef.h>

#include <cstdint>
#include <string>

namespace flotilla::tensor {

inline std::string shape_string(c10::IntArrayRef sizes) {
  std::string s = "[";
  for (size_t i = 0; i < sizes.size(); ++i) s += (i ? ", " : "") + std::to_string(sizes[i]);
  return s + "]";
}

}  // namespace flotilla::tensor
