#include "core/file.h"

#include <fstream>
#include <sstream>

#include "core/error.h"

namespace flotilla {

std::string read_file(const std::filesystem::path& path, std::string_view subsystem) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(subsystem, "cannot open '{}'", path.string());
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) fail(subsystem, "error reading '{}'", path.string());
  return text.str();
}

bool is_plain_file_name(std::string_view name) {
  constexpr std::string_view kSeparatorsAndNul("/\\\0", 3);
  return !name.empty() && name != "." && name != ".." && name.find_first_of(kSeparatorsAndNul) == std::string_view::npos;
}

}  // namespace flotilla
