// Reading a whole file, with errors that name it.
#pragma once
#include <filesystem>
#include <string>
#include <string_view>

namespace flotilla {

// The file's bytes; Error "[subsystem] cannot open '<path>'" (or "error reading") otherwise.
std::string read_file(const std::filesystem::path& path, std::string_view subsystem);

}  // namespace flotilla
