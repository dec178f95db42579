// What the harnesses share: cutting one input into parts, and files for readers that take a path.
#pragma once
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

namespace flotilla::fuzz {

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// The part of `rest` before its first NUL byte; `rest` keeps what follows (empty when there is no NUL).
inline std::string_view take_part(std::string_view& rest) {
  const size_t nul = rest.find('\0');
  const std::string_view part = rest.substr(0, nul);
  rest = nul == std::string_view::npos ? std::string_view() : rest.substr(nul + 1);
  return part;
}

[[noreturn]] inline void die(const char* what) {
  std::perror(what);
  std::abort();
}

// A file in memory, rewritten for every input; readers open it by path (/proc/self/fd/N).
class MemoryFile {
 public:
  MemoryFile() : fd_(::memfd_create("fuzz_input", MFD_CLOEXEC)) {
    if (fd_ < 0) die("memfd_create");
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~MemoryFile() { ::close(fd_); }
  MemoryFile(const MemoryFile&) = delete;
  MemoryFile& operator=(const MemoryFile&) = delete;

  const std::string& write(std::string_view bytes) {
    if (::ftruncate(fd_, 0) != 0) die("ftruncate");
    for (size_t done = 0; done < bytes.size();) {
      const ssize_t n = ::pwrite(fd_, bytes.data() + done, bytes.size() - done, static_cast<off_t>(done));
      if (n <= 0) die("pwrite");
      done += static_cast<size_t>(n);
    }
    return path_;
  }

 private:
  int fd_;
  std::string path_;
};

// A fresh folder under $TMPDIR for readers that take a folder, removed at exit.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "flotilla-fuzz-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) die("mkdtemp");
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  void write(const std::string& name, std::string_view bytes) const {
    std::FILE* file = std::fopen((path_ / name).c_str(), "wb");
    if (file == nullptr) die("fopen");
    if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), file) != bytes.size()) die("fwrite");
    if (std::fclose(file) != 0) die("fclose");
  }

 private:
  std::filesystem::path path_;
};

}  // namespace flotilla::fuzz
