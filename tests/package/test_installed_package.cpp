// `cmake --install` gives a package that a program outside this tree builds against with
// find_package(flotilla) and only include/flotilla: examples/ built that way, then run.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include "support/paths.h"
#include "support/run.h"
#include "support/train_fixture.h"

namespace flotilla {
namespace {

namespace fs = std::filesystem;

std::string quoted(const fs::path& p) { return "'" + p.string() + "'"; }

// Every #include "..." in the installed headers names another public header.
void expect_self_contained_headers(const fs::path& include_dir) {
  int headers = 0;
  const std::regex include_line(R"re(#include\s+"([^"]+)")re");
  for (const auto& entry : fs::recursive_directory_iterator(include_dir)) {
    if (!entry.is_regular_file()) continue;
    ++headers;
    std::ifstream in(entry.path());
    for (std::string line; std::getline(in, line);) {
      std::smatch m;
      if (std::regex_search(line, m, include_line)) {
        EXPECT_TRUE(fs::exists(include_dir / m[1].str())) << entry.path() << " includes " << m[1] << ", not installed";
      }
    }
  }
  EXPECT_GE(headers, 10) << "public headers installed under " << include_dir;
}

TEST(InstalledPackage, ExamplesBuildAgainstItAndRun) {
  const auto scratch = test::scratch_dir("installed-package");
  const auto prefix = scratch / "prefix", build = scratch / "examples";
  auto installed = test::run_command("cmake --install " + quoted(FLOTILLA_BINARY_DIR) + " --prefix " + quoted(prefix));
  ASSERT_EQ(installed.exit_code, 0) << installed.output;
  expect_self_contained_headers(prefix / "include");
  EXPECT_FALSE(fs::exists(prefix / "include" / "model")) << "internal headers must not be installed";

  auto configured = test::run_command("cmake -S " + quoted(fs::path(FLOTILLA_SOURCE_DIR) / "examples") + " -B " +
                                      quoted(build) + " -DCMAKE_PREFIX_PATH=" + quoted(prefix));
  ASSERT_EQ(configured.exit_code, 0) << configured.output;
  auto built = test::run_command("cmake --build " + quoted(build) + " -j 2");
  ASSERT_EQ(built.exit_code, 0) << built.output;

  auto generated = test::run_command(quoted(build / "example_generate") + " " + quoted(test::converted_stories()) +
                                     " 'Once upon a time'");
  ASSERT_EQ(generated.exit_code, 0) << generated.output;
  EXPECT_NE(generated.output.find("Generation:"), std::string::npos) << generated.output;

  const auto adapters = scratch / "adapters";
  auto trained = test::run_command(quoted(build / "example_train_lora") + " " + quoted(test::converted_stories()) + " " +
                                   quoted(test::sentence_dataset()) + " " + quoted(adapters));
  ASSERT_EQ(trained.exit_code, 0) << trained.output;
  EXPECT_NE(trained.output.find("reports: 5, last train loss"), std::string::npos) << trained.output;
  EXPECT_TRUE(fs::exists(adapters / "adapters.safetensors"));
  EXPECT_TRUE(fs::exists(adapters / "adapter_config.json"));
}

}  // namespace
}  // namespace flotilla
