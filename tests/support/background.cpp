#include "support/background.h"

#include <signal.h>

#include <fstream>
#include <thread>

#include "core/file.h"
#include "support/run.h"

namespace flotilla::test {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// Files written under a temporary name and renamed, so that a reader never sees half of one.
std::string write_then_rename(const std::string& text, const fs::path& path) {
  return text + " > " + path.string() + ".part && mv " + path.string() + ".part " + path.string();
}

}  // namespace

BackgroundCommand::BackgroundCommand(const std::string& command, const fs::path& files)
    : output_(files / "output.log"), exit_code_(files / "exit_code") {
  const fs::path pid = files / "pid";
  run_command("(" + command + " > " + output_.string() + " 2>&1 & " + write_then_rename("echo $!", pid) +
              "; wait $!; " + write_then_rename("echo $?", exit_code_) + ") >/dev/null 2>&1 &");
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (!fs::exists(pid) && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::ifstream(pid) >> pid_;
}

BackgroundCommand::~BackgroundCommand() {
  if (pid_ > 0 && !fs::exists(exit_code_)) ::kill(pid_, SIGKILL);
}

std::optional<int> BackgroundCommand::wait(std::chrono::milliseconds limit) const {
  const auto deadline = Clock::now() + limit;
  while (!fs::exists(exit_code_) && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  if (!fs::exists(exit_code_)) return std::nullopt;
  return std::stoi(read_file(exit_code_, "test"));
}

bool BackgroundCommand::wait_for(const fs::path& file, std::chrono::milliseconds limit) const {
  const auto deadline = Clock::now() + limit;
  while (!fs::exists(file) && !fs::exists(exit_code_) && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  return fs::exists(file);
}

std::string BackgroundCommand::output() const { return read_file(output_, "test"); }

}  // namespace flotilla::test
