// Runs a command line through the shell and captures its exit code and combined output.
#pragma once
#include <string>

namespace flotilla::test {

struct RunResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

RunResult run_command(const std::string& command);

}  // namespace flotilla::test
