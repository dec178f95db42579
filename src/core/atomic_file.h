// Writes that say why they failed: atomic replacement (a temp file beside the target, fsynced, then
// renamed over it) and appends. A full disk is an Error naming the file, never a silent short file.
#pragma once
#include <functional>
#include <ostream>
#include <string>
#include <string_view>

namespace flotilla {

// Calls write(stream) on a temp file and renames it to path only if write returns normally and
// every byte reached the disk (write, fsync and close checked); the temp file never stays behind.
void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write);

void write_text_atomically(const std::string& path, const std::string& text);

// Appends text to path, creating it if missing.
void append_to_file(const std::string& path, std::string_view text);

}  // namespace flotilla
