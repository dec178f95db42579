#include "core/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/error.h"

namespace flotilla {

namespace {

void fsync_path(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write) {
  const std::string temp = path + ".tmp." + std::to_string(::getpid());
  try {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out) fail("io", "cannot create '{}' (for '{}')", temp, path);
    write(out);
    out.flush();
    if (!out) fail("io", "write to '{}' failed (disk full?)", temp);
    out.close();
    fsync_path(temp);
    std::error_code ec;
    std::filesystem::rename(temp, path, ec);
    if (ec) fail("io", "cannot rename '{}' to '{}': {}", temp, path, ec.message());
    auto parent = std::filesystem::path(path).parent_path();
    fsync_path(parent.empty() ? "." : parent.string());
  } catch (...) {
    std::remove(temp.c_str());
    throw;
  }
}

void write_text_atomically(const std::string& path, const std::string& text) {
  write_file_atomically(path, [&](std::ostream& out) { out << text; });
}

}  // namespace flotilla
