// Where tests find the shared fixtures, the CLI binary and a scratch folder.
#pragma once
#include <filesystem>
#include <string>

namespace flotilla::test {

inline std::filesystem::path shared_dir() { return FLOTILLA_SHARED_DIR; }
inline std::filesystem::path stories_dir() { return shared_dir() / "models" / "stories260K"; }
inline std::string cli_path() { return FLOTILLA_CLI; }
inline std::filesystem::path source_dir() { return FLOTILLA_SOURCE_DIR; }

// A fresh, empty folder under the system temp dir, unique to the calling test; removed when the test passes.
std::filesystem::path scratch_dir(const std::string& name);

}  // namespace flotilla::test
