// The adapter folder: every file's name, and the lock that keeps a second training run out.
#include <gtest/gtest.h>
#include <unistd.h>

#include "lora/adapter_folder.h"
#include "support/error_message.h"
#include "support/paths.h"

using namespace flotilla::lora;

namespace flotilla {
namespace {

TEST(AdapterFolder, NamesMlxLmFiles) {
  const AdapterFolder folder("out/adapters");
  EXPECT_EQ(folder.weights(), "out/adapters/adapters.safetensors");
  EXPECT_EQ(folder.config(), "out/adapters/adapter_config.json");
  EXPECT_EQ(folder.checkpoint(100), "out/adapters/0000100_adapters.safetensors");
  EXPECT_EQ(folder.training_state(), "out/adapters/training_state.safetensors");
  EXPECT_EQ(folder.metrics(), "out/adapters/metrics.jsonl");
  EXPECT_EQ(folder.lock(), "out/adapters/training.lock");
}

// flock conflicts between two opens of the file even in one process, so one process shows the rule.
TEST(AdapterFolder, OneTrainingRunAtATime) {
  const AdapterFolder folder((test::scratch_dir("locked") / "adapters").string());
  {
    const FileLock first = folder.lock_for_training();
    const std::string message = test::error_message([&] { folder.lock_for_training(); });
    EXPECT_NE(message.find("adapter folder '" + folder.dir() + "' is in use by another training run (pid " +
                           std::to_string(::getpid()) + ","),
              std::string::npos)
        << message;
  }
  const FileLock after_release = folder.lock_for_training();
}

}  // namespace
}  // namespace flotilla
