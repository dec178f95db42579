// A command run through the shell in the background, its output and exit code kept in files, so a
// test can act while it runs (pause, kill, start another); killed if the test ends first.
#pragma once
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

namespace flotilla::test {

class BackgroundCommand {
 public:
  // `files` holds the output, the pid and the exit code.
  BackgroundCommand(const std::string& command, const std::filesystem::path& files);
  ~BackgroundCommand();
  BackgroundCommand(const BackgroundCommand&) = delete;
  BackgroundCommand& operator=(const BackgroundCommand&) = delete;

  pid_t pid() const { return pid_; }
  // The exit code (128 + the signal for a killed process), or nothing while it runs beyond `limit`.
  std::optional<int> wait(std::chrono::milliseconds limit) const;
  // Polls until `file` exists; false if the command ended or `limit` passed first.
  bool wait_for(const std::filesystem::path& file, std::chrono::milliseconds limit) const;
  std::string output() const;

 private:
  std::filesystem::path output_, exit_code_;
  pid_t pid_ = 0;
};

}  // namespace flotilla::test
