// Runs a shell command for a benchmark and returns its exit code and its output (stdout, and
// stderr too unless the command redirects it).
#pragma once
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <memory>
#include <string>

namespace flotilla {

struct CommandResult {
  int exit_code = -1;
  std::string output;
};

inline CommandResult run_command(const std::string& command) {
  CommandResult r;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen((command + " 2>&1").c_str(), "r"), pclose);
  std::array<char, 4096> buffer{};
  while (pipe && fgets(buffer.data(), buffer.size(), pipe.get())) r.output += buffer.data();
  if (!pipe) return r;
  const int status = pclose(pipe.release());
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace flotilla
