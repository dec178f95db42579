#include "support/paths.h"

#include <gtest/gtest.h>
#include <unistd.h>

namespace flotilla::test {

std::filesystem::path scratch_dir(const std::string& name) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string test = info ? std::string(info->test_suite_name()) + "." + info->name() : "none";
  auto dir = std::filesystem::temp_directory_path() /
             ("flotilla-" + std::to_string(::getpid()) + "-" + test + "-" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace flotilla::test
