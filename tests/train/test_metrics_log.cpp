// metrics.jsonl: records appended one line each, and a failed append is an error, not a lost record.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/file.h"
#include "support/error_message.h"
#include "support/paths.h"
#include "train/metrics.h"

using namespace flotilla::train;

namespace flotilla {
namespace {

namespace fs = std::filesystem;

// /dev/full answers every write with ENOSPC, as a full disk does.
TEST(MetricsLog, AppendToAFullDiskIsAnErrorNamingTheFile) {
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full on this system";
  const auto path = test::scratch_dir("metrics") / "metrics.jsonl";
  MetricsLog log(path.string(), /*resumed_iteration=*/0);
  log.append({{"iteration", 1}});
  EXPECT_EQ(read_file(path, "test"), "{\"iteration\":1}\n");
  fs::remove(path);
  fs::create_symlink("/dev/full", path);
  const std::string message = test::error_message([&] { log.append({{"iteration", 2}}); });
  EXPECT_NE(message.find(path.string()), std::string::npos) << message;
  EXPECT_NE(message.find("No space left on device (disk full?)"), std::string::npos) << message;
}

}  // namespace
}  // namespace flotilla
