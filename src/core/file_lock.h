// An exclusive flock(2) on a file, held while the object lives. The kernel drops it when the
// process dies, so a crash never leaves a stale lock; the file stays (removing it would race).
#pragma once
#include <optional>
#include <string>

namespace flotilla {

class FileLock {
 public:
  // Locks path (created if missing) and writes this process's pid into it; nullopt while another
  // open of the file holds the lock, in this process or another.
  static std::optional<FileLock> try_lock(const std::string& path);
  FileLock(FileLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  FileLock& operator=(FileLock&&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace flotilla
