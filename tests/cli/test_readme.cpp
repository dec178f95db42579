// Every `flotilla` command in the README's shell blocks names a real subcommand and real flags.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "support/paths.h"
#include "support/run.h"

namespace flotilla {
namespace {

// Shell lines of ```sh blocks, with backslash continuations joined.
std::vector<std::string> readme_commands() {
  std::ifstream in(std::filesystem::path(FLOTILLA_SOURCE_DIR) / "README.md");
  std::vector<std::string> commands;
  std::string line, pending;
  bool in_block = false;
  while (std::getline(in, line)) {
    if (line.rfind("```", 0) == 0) {
      in_block = !in_block && line == "```sh";
      continue;
    }
    if (!in_block || line.empty() || line[0] == '#') continue;
    if (line.back() == '\\') {
      pending += line.substr(0, line.size() - 1) + " ";
      continue;
    }
    commands.push_back(pending + line);
    pending.clear();
  }
  return commands;
}

std::vector<std::string> words(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

TEST(Readme, EveryFlotillaCommandAndFlagExists) {
  int checked = 0;
  for (const auto& command : readme_commands()) {
    auto w = words(command);
    auto at = std::find_if(w.begin(), w.end(), [](const std::string& s) { return s.size() >= 8 && s.substr(s.size() - 8) == "flotilla"; });
    if (at == w.end()) continue;
    std::vector<std::string> sub;
    for (auto it = at + 1; it != w.end() && it->rfind("-", 0) != 0 && it->find('/') == std::string::npos &&
                           it->find('"') == std::string::npos && it->find('\'') == std::string::npos;
         ++it) {
      sub.push_back(*it);
      if (*it != "pirate") break;  // only `pirate` has its own subcommands
    }
    ASSERT_FALSE(sub.empty()) << command;
    std::string sub_line;
    for (const auto& s : sub) sub_line += " " + s;
    auto help = test::run_command(test::cli_path() + sub_line + " --help");
    ASSERT_EQ(help.exit_code, 0) << "no subcommand '" << sub_line << "' for: " << command << "\n" << help.output;
    for (auto it = at + 1; it != w.end(); ++it) {
      if (it->rfind("--", 0) != 0 && *it != "-c" && *it != "-p") continue;
      const auto flag = it->substr(0, it->find('='));
      EXPECT_TRUE(std::regex_search(help.output, std::regex("(^|[ ,])" + flag + "([ ,=]|$)", std::regex::multiline)))
          << "flag " << flag << " of '" << sub_line << "' is not in its --help; README command: " << command;
      ++checked;
    }
  }
  std::cout << "[readme] checked " << checked << " flags\n";
  EXPECT_GT(checked, 30);
}

TEST(Readme, TheTwoSetupCommandsAreMakeTargets) {
  std::ifstream in(std::filesystem::path(FLOTILLA_SOURCE_DIR) / "Makefile");
  std::stringstream makefile;
  makefile << in.rdbuf();
  auto commands = readme_commands();
  ASSERT_GE(commands.size(), 2u);
  EXPECT_EQ(commands[0].rfind("make demo", 0), 0u) << commands[0];
  EXPECT_EQ(commands[1].rfind("make test", 0), 0u) << commands[1];
  EXPECT_NE(makefile.str().find("\ndemo:"), std::string::npos);
  EXPECT_NE(makefile.str().find("\ntest:"), std::string::npos);
}

}  // namespace
}  // namespace flotilla
