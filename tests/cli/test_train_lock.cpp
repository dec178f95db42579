// Two `flotilla train` runs into one --adapter-path: the second stops at once, naming the folder
// and the first run's pid, and leaves the first run's files alone; a killed run leaves no stale lock.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>

#include "core/file.h"
#include "support/background.h"
#include "support/paths.h"
#include "support/run.h"
#include "support/train_fixture.h"
#include "train/checkpoint.h"

namespace flotilla {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

TEST(TrainCli, SecondRunIntoTheSameAdapterFolderIsRefusedAndAKilledRunLeavesNoLock) {
  const fs::path adapters = test::scratch_dir("adapters");
  const std::string flags = " --save-every 10 --steps-per-report 5";
  const test::BackgroundCommand first(test::train_command(adapters, 1000) + flags, test::scratch_dir("first"));
  ASSERT_TRUE(first.wait_for(adapters / "training_state.safetensors", std::chrono::seconds(120))) << first.output();
  const std::string config = read_file(adapters / "adapter_config.json", "test");

  // Other settings, so that its adapter_config.json would differ had it been written.
  const auto start = Clock::now();
  const auto second = test::run_command(test::train_command(adapters, 20) + " --learning-rate 1e-4");
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::cout << "[lock] the second run exited with " << second.exit_code << " after " << seconds << " s\n";
  EXPECT_EQ(second.exit_code, 1) << second.output;
  EXPECT_NE(second.output.find("adapter folder '" + adapters.string() + "' is in use by another training run (pid " +
                               std::to_string(first.pid()) + ","),
            std::string::npos)
      << second.output;
  EXPECT_EQ(second.output.find("Loading pretrained model"), std::string::npos) << "refused only after loading";
  EXPECT_EQ(read_file(adapters / "adapter_config.json", "test"), config);
  EXPECT_FALSE(first.wait(std::chrono::milliseconds(0)).has_value()) << "the first run ended\n" << first.output();

  ::kill(first.pid(), SIGKILL);
  ASSERT_EQ(first.wait(std::chrono::seconds(10)), 128 + SIGKILL);
  ASSERT_TRUE(fs::exists(adapters / "training.lock"));
  const int64_t last = train::load_training_state((adapters / "training_state.safetensors").string()).iteration;
  const auto resumed = test::run_command(test::train_command(adapters, last + 10) + flags + " --resume");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("Iter " + std::to_string(last + 10) + ": Train loss"), std::string::npos)
      << resumed.output;
}

}  // namespace
}  // namespace flotilla
