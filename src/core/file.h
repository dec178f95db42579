// Reading a whole file, with errors that name it; file names taken from untrusted files.
#pragma once
#include <filesystem>
#include <string>
#include <string_view>

namespace flotilla {

// The file's bytes; Error "[subsystem] cannot open '<path>'" (or "error reading") otherwise.
std::string read_file(const std::filesystem::path& path, std::string_view subsystem);

// True for a name that stays inside the folder it is joined to: not empty, no '/' or '\\', not "." or "..",
// no NUL. A file inside a model or adapter folder may name its siblings only this way.
bool is_plain_file_name(std::string_view name);

}  // namespace flotilla
