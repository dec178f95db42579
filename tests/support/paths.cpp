#include "support/paths.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

namespace flotilla::test {
namespace {

namespace fs = std::filesystem;

// Removes each test's scratch folders when it passes; a failed test keeps them for a look.
class ScratchCleaner : public ::testing::EmptyTestEventListener {
 public:
  void add(const fs::path& dir) { dirs_.push_back(dir); }
  void OnTestEnd(const ::testing::TestInfo& info) override {
    if (!info.result()->Failed()) {
      std::error_code ignored;
      for (const auto& dir : dirs_) fs::remove_all(dir, ignored);
    }
    dirs_.clear();
  }

 private:
  std::vector<fs::path> dirs_;
};

ScratchCleaner& scratch_cleaner() {
  static ScratchCleaner* cleaner = [] {
    auto* listener = new ScratchCleaner;  // owned by gtest's listener list
    ::testing::UnitTest::GetInstance()->listeners().Append(listener);
    return listener;
  }();
  return *cleaner;
}

}  // namespace

fs::path scratch_dir(const std::string& name) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string test = info ? std::string(info->test_suite_name()) + "." + info->name() : "none";
  std::replace(test.begin(), test.end(), '/', '_');  // parameterized tests: "Table/Suite.Case/0"
  auto dir = fs::temp_directory_path() / ("flotilla-" + std::to_string(::getpid()) + "-" + test + "-" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  if (info) scratch_cleaner().add(dir);
  return dir;
}

}  // namespace flotilla::test
