// A rank killed with SIGKILL in the middle of `mpirun -np 2 flotilla train`: mpirun must end the
// job by itself and say which rank died, and one process must --resume from the last checkpoint.
// An error on one rank only (bad data there, an unwritable or busy adapter folder on rank 0) ends every rank.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "lora/adapter_folder.h"
#include "support/paths.h"
#include "support/run.h"
#include "support/train_fixture.h"

namespace flotilla {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Every process whose command line names the adapter folder: timeout, mpirun and the ranks. The
// pattern's first character goes in brackets so that it does not match the shell running pgrep.
std::vector<pid_t> processes_naming(const fs::path& adapters) {
  const auto path = adapters.string();
  auto r = test::run_command("pgrep -f -- '[" + path.substr(0, 1) + "]" + path.substr(1) + "'");
  std::vector<pid_t> pids;
  std::istringstream lines(r.output);
  for (long pid; lines >> pid;)
    if (pid != ::getpid()) pids.push_back(static_cast<pid_t>(pid));
  return pids;
}

// The ranks among them: processes running the flotilla binary itself (not mpirun, not a shell).
std::vector<pid_t> ranks_naming(const fs::path& adapters) {
  std::vector<pid_t> ranks;
  const auto cli = fs::canonical(test::cli_path());
  for (pid_t pid : processes_naming(adapters)) {
    std::error_code ec;
    const auto exe = fs::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec);
    if (!ec && exe == cli) ranks.push_back(pid);
  }
  return ranks;
}

// Whatever happens to the assertions, nothing started by the test outlives it.
struct KillLeftovers {
  fs::path adapters;
  ~KillLeftovers() {
    for (pid_t pid : processes_naming(adapters)) ::kill(pid, SIGKILL);
  }
};

TEST(MpiFaults, KilledRankEndsMpirunAndOneProcessResumes) {
  const int iters = 400;
  const auto dir = test::scratch_dir("killed");
  KillLeftovers cleanup{dir};
  const std::string flags = " --save-every 20 --steps-per-report 10 --steps-per-eval 1000 --threads 1";
  const std::string train = test::train_command(dir, iters) + flags;
  const auto log = dir / "mpirun.log", rc = dir / "mpirun.rc";
  // `timeout 90` is the backstop: a job that never ends shows up as rc 124/137, not as a hung test.
  const std::string mpirun =
      "timeout -k 5 90 mpirun -np 2 --allow-run-as-root --oversubscribe --bind-to none " + train;
  test::run_command("(" + mpirun + " >" + log.string() + " 2>&1 & echo $! > " + (dir / "pid").string() +
                    "; wait $!; echo $? > " + rc.string() + ") >/dev/null 2>&1 &");

  auto deadline = Clock::now() + std::chrono::seconds(60);
  while (!fs::exists(dir / "0000020_adapters.safetensors") && !fs::exists(rc) && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(fs::exists(dir / "0000020_adapters.safetensors")) << "no checkpoint at 20 within 60 s\n"
                                                                  << read_file(log);
  const auto ranks = ranks_naming(dir);
  ASSERT_EQ(ranks.size(), 2u) << "expected two flotilla ranks\n" << read_file(log);
  const pid_t victim = ranks.back();
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  const auto killed_at = Clock::now();

  deadline = killed_at + std::chrono::seconds(60);
  while (!fs::exists(rc) && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const double seconds = std::chrono::duration<double>(Clock::now() - killed_at).count();
  const std::string output = read_file(log);
  ASSERT_TRUE(fs::exists(rc)) << "mpirun still running " << seconds << " s after rank pid " << victim
                              << " was killed\n" << output;
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the rc file is written before it is closed
  const int exit_code = std::stoi(read_file(rc));
  std::cout << "[faults] SIGKILL to rank pid " << victim << ": mpirun exited with " << exit_code << " after "
            << seconds << " s (limit 60 s)\n";
  EXPECT_NE(exit_code, 0) << output;
  EXPECT_NE(exit_code, 124) << "timeout 90 had to stop mpirun\n" << output;
  const std::regex notice(R"(mpirun noticed that process rank \d+ with PID \d+ on node \S+ exited on signal 9)");
  std::smatch match;
  EXPECT_TRUE(std::regex_search(output, match, notice)) << output;
  if (!match.empty()) std::cout << "[faults] " << match.str() << "\n";
  ASSERT_FALSE(fs::exists(dir / "0000400_adapters.safetensors")) << "the run finished before it was killed";
  EXPECT_TRUE(ranks_naming(dir).empty()) << "a rank outlived mpirun";

  int last_checkpoint = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const auto name = entry.path().filename().string();
    if (name.size() == 28 && name.substr(7) == "_adapters.safetensors")
      last_checkpoint = std::max(last_checkpoint, std::stoi(name.substr(0, 7)));
  }
  ASSERT_GE(last_checkpoint, 20);

  auto resumed = test::run_command("timeout -k 5 90 " + train + " --resume");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("Single-process mode"), std::string::npos) << resumed.output;
  std::smatch first;
  ASSERT_TRUE(std::regex_search(resumed.output, first, std::regex(R"(Iter (\d+): Train loss)"))) << resumed.output;
  EXPECT_EQ(std::stoi(first[1]), last_checkpoint + 10) << "resumed from checkpoint " << last_checkpoint << "\n"
                                                       << resumed.output;
  EXPECT_NE(resumed.output.find("Iter " + std::to_string(iters) + ":"), std::string::npos) << resumed.output;
  EXPECT_TRUE(fs::exists(dir / "0000400_adapters.safetensors"));
  std::cout << "[faults] one process resumed from iteration " << last_checkpoint << " and reached " << iters << "\n";
}

// `mpirun` with one command line per rank (MPMD), as if each machine had its own files; returns the
// output, the exit code and the seconds mpirun ran.
struct SplitRun {
  test::RunResult result;
  double seconds = 0;
};
SplitRun run_per_rank(const std::string& rank0, const std::string& rank1) {
  const auto start = Clock::now();
  SplitRun run;
  run.result = test::run_command("timeout -k 5 60 mpirun --allow-run-as-root --oversubscribe --bind-to none -np 1 " +
                                 rank0 + " : -np 1 " + rank1);
  run.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return run;
}

// What a healthy run of the same job costs, start to finish, to tell "ended at once" from "ran on".
double healthy_seconds(const fs::path& dir) {
  const std::string train = test::train_command(dir / "healthy", 1) + " --threads 1";
  const SplitRun healthy = run_per_rank(train, train);
  EXPECT_EQ(healthy.result.exit_code, 0) << healthy.result.output;
  return healthy.seconds;
}

void expect_every_rank_ended(const SplitRun& run, double healthy, const std::string& message, const fs::path& dir) {
  std::cout << "[faults] " << message << ": mpirun exited with " << run.result.exit_code << " after " << run.seconds
            << " s (a healthy 1-iteration run: " << healthy << " s; limit: that + 5 s)\n";
  EXPECT_NE(run.result.exit_code, 0) << run.result.output;
  EXPECT_NE(run.result.exit_code, 124) << "timeout 60 had to stop mpirun\n" << run.result.output;
  EXPECT_LT(run.seconds, healthy + 5.0) << run.result.output;
  EXPECT_NE(run.result.output.find(message), std::string::npos) << run.result.output;
  EXPECT_NE(run.result.output.find("error: ending every rank"), std::string::npos) << run.result.output;
  EXPECT_TRUE(ranks_naming(dir).empty()) << "a rank outlived mpirun";
}

TEST(MpiFaults, BadDataOnOneRankEndsEveryRankWithTheMessage) {
  const auto dir = test::scratch_dir("bad-data");
  KillLeftovers cleanup{dir};
  const double healthy = healthy_seconds(dir);
  // Rank 1's copy of the data has a broken line 2; rank 0's is fine, so rank 0 waits in a collective.
  const fs::path good = test::sentence_dataset(), bad = dir / "data";
  fs::create_directories(bad);
  for (const char* split : {"train.jsonl", "valid.jsonl", "test.jsonl"})
    fs::copy_file(good / split, bad / split, fs::copy_options::overwrite_existing);
  std::ofstream(bad / "train.jsonl") << "{\"text\": \"fine\"}\n{\"text\": \n";
  const std::string train = test::train_command(dir / "adapters", 50) + " --threads 1";
  std::string broken = train;
  broken.replace(broken.find(good.string()), good.string().size(), bad.string());
  const SplitRun run = run_per_rank(train, broken);
  expect_every_rank_ended(run, healthy, "error on rank 1 of 2: ", dir);
  EXPECT_NE(run.result.output.find("train.jsonl:2"), std::string::npos) << run.result.output;
}

TEST(MpiFaults, UnwritableAdapterFolderOnRankZeroEndsEveryRankWithTheMessage) {
  const auto dir = test::scratch_dir("unwritable");
  KillLeftovers cleanup{dir};
  const double healthy = healthy_seconds(dir);
  std::ofstream(dir / "a-file") << "not a folder\n";
  const fs::path unwritable = dir / "a-file" / "adapters";  // a path through a regular file: ENOTDIR, even as root
  const std::string train = test::train_command(dir / "adapters", 50) + " --threads 1";
  std::string broken = train;
  broken.replace(broken.find((dir / "adapters").string()), (dir / "adapters").string().size(), unwritable.string());
  const SplitRun run = run_per_rank(broken, train);
  expect_every_rank_ended(run, healthy, "error on rank 0 of 2: ", dir);
  EXPECT_NE(run.result.output.find(unwritable.string()), std::string::npos) << run.result.output;
}

// Only rank 0 takes the adapter folder's lock, so only rank 0 finds it held (here by this process).
TEST(MpiFaults, AdapterFolderInUseEndsEveryRankWithTheMessage) {
  const auto dir = test::scratch_dir("in-use");
  KillLeftovers cleanup{dir};
  const double healthy = healthy_seconds(dir);
  const lora::AdapterFolder adapters((dir / "adapters").string());
  const FileLock first_run = adapters.lock_for_training();
  const std::string train = test::train_command(adapters.dir(), 50) + " --threads 1";
  const SplitRun run = run_per_rank(train, train);
  expect_every_rank_ended(run, healthy, "error on rank 0 of 2: [lora] adapter folder '" + adapters.dir() + "' is in use",
                          dir);
}

}  // namespace
}  // namespace flotilla
