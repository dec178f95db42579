// Small string tests shared across folders.
#pragma once
#include <string>

namespace flotilla {

inline bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace flotilla
