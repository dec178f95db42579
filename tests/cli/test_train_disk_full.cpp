// `flotilla train` on a disk that fills up between two checkpoints: a clear error, the previous
// checkpoint intact and no temp files left, then --resume from it once there is space again.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <regex>

#include "core/file.h"
#include "io/weight_store.h"
#include "support/background.h"
#include "support/paths.h"
#include "support/run.h"
#include "support/skip.h"
#include "support/train_fixture.h"
#include "train/checkpoint.h"

namespace flotilla {
namespace {

namespace fs = std::filesystem;

// A small tmpfs mounted at `dir`, unmounted however the test ends (lazily: a killed run may still hold files).
struct TmpfsMount {
  fs::path dir;
  int error = 0;
  TmpfsMount(fs::path at, const std::string& size) : dir(std::move(at)) {
    if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, ("size=" + size).c_str()) != 0) error = errno;
  }
  ~TmpfsMount() {
    if (error == 0) ::umount2(dir.c_str(), MNT_DETACH);
  }
};

// Fills the file system under `dir` with one file until `keep` bytes are left.
void fill_leaving(const fs::path& filler, uint64_t keep) {
  struct statvfs disk {};
  ASSERT_EQ(::statvfs(filler.parent_path().c_str(), &disk), 0);
  const uint64_t free = static_cast<uint64_t>(disk.f_bavail) * disk.f_frsize;
  ASSERT_GT(free, keep);
  std::ofstream out(filler, std::ios::binary);
  const std::string page(disk.f_frsize, '\0');
  for (uint64_t written = 0; written + page.size() <= free - keep; written += page.size()) out << page;
  out.flush();
  ASSERT_TRUE(out.good()) << "the filler did not fit";
}

TEST(TrainCli, FullDiskAtACheckpointIsAClearErrorAndResumeContinues) {
  const auto dir = test::scratch_dir("tmpfs");
  const TmpfsMount disk(dir, "4m");
  if (disk.error != 0) SKIP_OR_FAIL_UNDER_CI("cannot mount a tmpfs here: " + std::string(std::strerror(disk.error)));
  const fs::path adapters = dir / "adapters";
  const std::string cmd = test::train_command(adapters, 30) + " --save-every 10 --steps-per-report 5";
  const test::BackgroundCommand run(cmd, test::scratch_dir("run"));
  ASSERT_TRUE(run.wait_for(adapters / "training_state.safetensors", std::chrono::seconds(120))) << run.output();
  ASSERT_EQ(::kill(run.pid(), SIGSTOP), 0);
  ASSERT_FALSE(fs::exists(adapters / "0000020_adapters.safetensors")) << "paused after the second checkpoint";

  // Checkpoint 10 as it was; then space for the small appends to metrics.jsonl but not a checkpoint.
  std::map<std::string, std::string> checkpoint;
  for (const char* name : {"0000010_adapters.safetensors", "adapters.safetensors", "training_state.safetensors"})
    checkpoint[name] = read_file(adapters / name, "test");
  ASSERT_NO_FATAL_FAILURE(fill_leaving(dir / "filler", checkpoint["adapters.safetensors"].size() / 2));
  ASSERT_EQ(::kill(run.pid(), SIGCONT), 0);
  const auto exit_code = run.wait(std::chrono::seconds(120));
  const std::string output = run.output();
  EXPECT_EQ(exit_code, 1) << output;
  EXPECT_NE(output.find("error: [io] cannot write '" + (adapters / "0000020_adapters.safetensors").string() +
                        "': No space left on device (disk full?)"),
            std::string::npos)
      << output;
  for (const auto& [name, bytes] : checkpoint) EXPECT_EQ(read_file(adapters / name, "test"), bytes) << name;
  EXPECT_EQ(train::load_training_state((adapters / "training_state.safetensors").string()).iteration, 10);
  EXPECT_FALSE(io::WeightStore::open_file((adapters / "adapters.safetensors").string()).names().empty());
  for (const auto& entry : fs::directory_iterator(adapters))
    EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos) << entry.path();

  fs::remove(dir / "filler");
  const auto resumed = test::run_command(cmd + " --resume");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  std::smatch first;
  ASSERT_TRUE(std::regex_search(resumed.output, first, std::regex(R"(Iter (\d+): Train loss)"))) << resumed.output;
  EXPECT_EQ(std::stoi(first[1]), 15) << resumed.output;
  EXPECT_EQ(train::load_training_state((adapters / "training_state.safetensors").string()).iteration, 30);
}

}  // namespace
}  // namespace flotilla
