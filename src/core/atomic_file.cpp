#include "core/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/error.h"

namespace flotilla {

namespace {

[[noreturn]] void fail_writing(const std::string& path, int error) {
  fail("io", "cannot write '{}': {} (disk full?)", path, error ? std::strerror(error) : "the stream failed");
}

// write(2) until every byte is out; the errno of a failure, 0 on success.
int write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return 0;
}

// A stream buffer over a file descriptor that keeps the errno of the first failed write:
// std::ofstream only says that something failed, and a full disk should say so.
class DescriptorBuffer : public std::streambuf {
 public:
  explicit DescriptorBuffer(int fd) : fd_(fd) { setp(buffer_.data(), buffer_.data() + buffer_.size()); }
  int error() const { return error_; }

 protected:
  int overflow(int c) override {
    if (!drain()) return traits_type::eof();
    if (c != traits_type::eof()) sputc(traits_type::to_char_type(c));
    return traits_type::not_eof(c);
  }
  // Tensor payloads go straight to the file rather than through the buffer.
  std::streamsize xsputn(const char* data, std::streamsize size) override {
    if (size < static_cast<std::streamsize>(buffer_.size())) return std::streambuf::xsputn(data, size);
    if (!drain()) return 0;
    error_ = write_all(fd_, data, static_cast<size_t>(size));
    return error_ == 0 ? size : 0;
  }
  int sync() override { return drain() ? 0 : -1; }

 private:
  bool drain() {
    if (error_ == 0) error_ = write_all(fd_, pbase(), static_cast<size_t>(pptr() - pbase()));
    if (error_ != 0) return false;
    setp(buffer_.data(), buffer_.data() + buffer_.size());
    return true;
  }
  int fd_;
  int error_ = 0;
  std::array<char, 1 << 16> buffer_;
};

// Makes the rename durable. fsync(2): EINVAL and EROFS mean this file system cannot sync a folder.
void fsync_folder(const std::string& path) {
  const auto parent = std::filesystem::path(path).parent_path();
  const std::string folder = parent.empty() ? "." : parent.string();
  const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail("io", "cannot open folder '{}' to sync '{}': {}", folder, path, std::strerror(errno));
  const int error = ::fsync(fd) == 0 ? 0 : errno;
  ::close(fd);
  if (error != 0 && error != EINVAL && error != EROFS) fail_writing(path, error);
}

}  // namespace

void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write) {
  const std::string temp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) fail("io", "cannot create '{}' (for '{}'): {}", temp, path, std::strerror(errno));
  try {
    DescriptorBuffer buffer(fd);
    std::ostream out(&buffer);
    write(out);
    out.flush();
    if (!out) fail_writing(path, buffer.error());
    // A full disk may show only here (delayed allocation, NFS): fsync and close are checked too.
    if (::fsync(fd) != 0) fail_writing(path, errno);
    const int closed = ::close(fd);
    fd = -1;
    if (closed != 0) fail_writing(path, errno);
    std::error_code ec;
    std::filesystem::rename(temp, path, ec);
    if (ec) fail("io", "cannot rename '{}' to '{}': {}", temp, path, ec.message());
    fsync_folder(path);
  } catch (...) {
    if (fd >= 0) ::close(fd);
    std::remove(temp.c_str());
    throw;
  }
}

void write_text_atomically(const std::string& path, const std::string& text) {
  write_file_atomically(path, [&](std::ostream& out) { out << text; });
}

void append_to_file(const std::string& path, std::string_view text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0) fail("io", "cannot open '{}' to append: {}", path, std::strerror(errno));
  const int error = write_all(fd, text.data(), text.size());
  const int close_error = ::close(fd) == 0 ? 0 : errno;
  if (error != 0 || close_error != 0) fail_writing(path, error != 0 ? error : close_error);
}

}  // namespace flotilla
