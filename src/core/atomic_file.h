// Atomic writes: data goes to a temp file beside the target, is fsynced, then renamed over it.
#pragma once
#include <functional>
#include <ostream>
#include <string>

namespace flotilla {

// Calls write(stream) on a temp file and renames it to path only if write returns normally.
void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write);

void write_text_atomically(const std::string& path, const std::string& text);

}  // namespace flotilla
