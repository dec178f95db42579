// A rank killed with SIGKILL, or stopped with SIGSTOP, in the middle of `mpirun -np 2 flotilla train`:
// the job must end by itself and say which rank failed, and one process must --resume from the last checkpoint.
// An error on one rank only (bad data there, an unwritable or busy adapter folder on rank 0) ends every rank.
#include <fmt/format.h>
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

// OMPI_COMM_WORLD_RANK from a process's environment.
int mpi_rank_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/environ", std::ios::binary);
  const std::string key = "OMPI_COMM_WORLD_RANK=";
  for (std::string entry; std::getline(in, entry, '\0');)
    if (entry.rfind(key, 0) == 0) return std::stoi(entry.substr(key.size()));
  return -1;
}

constexpr int kIters = 400;
const std::string kFaultFlags = " --save-every 20 --steps-per-report 10 --steps-per-eval 1000 --threads 1";

// `mpirun -np 2 flotilla train` in the background: once checkpoint 20 exists, `signal` goes to rank
// 1; then the job must end by itself within `limit` seconds.
struct InterruptedJob {
  std::string output;
  int exit_code = -1;
  double seconds = 0;  // from the signal to mpirun's end
  int victim_rank = -1;
  int last_checkpoint = 0;
};
InterruptedJob signal_rank_one(const fs::path& dir, const std::string& train, int signal, double limit) {
  const auto log = dir / "mpirun.log", rc = dir / "mpirun.rc";
  // `timeout 120` is the backstop: a job that never ends shows up as rc 124/137, not as a hung test.
  const std::string mpirun =
      "timeout -k 5 120 mpirun -np 2 --allow-run-as-root --oversubscribe --bind-to none " + train;
  test::run_command("(" + mpirun + " >" + log.string() + " 2>&1 & echo $! > " + (dir / "pid").string() +
                    "; wait $!; echo $? > " + rc.string() + ") >/dev/null 2>&1 &");
  InterruptedJob job;
  auto deadline = Clock::now() + std::chrono::seconds(60);
  while (!fs::exists(dir / "0000020_adapters.safetensors") && !fs::exists(rc) && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_TRUE(fs::exists(dir / "0000020_adapters.safetensors")) << "no checkpoint at 20 within 60 s\n"
                                                                  << read_file(log);
  const auto ranks = ranks_naming(dir);
  EXPECT_EQ(ranks.size(), 2u) << "expected two flotilla ranks\n" << read_file(log);
  pid_t victim = -1;
  for (pid_t pid : ranks)
    if (mpi_rank_of(pid) == 1) victim = pid;
  if (victim < 0 || ::kill(victim, signal) != 0) {
    ADD_FAILURE() << "could not signal rank 1\n" << read_file(log);
    return job;
  }
  job.victim_rank = 1;
  const auto signalled_at = Clock::now();
  deadline = signalled_at + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(limit));
  while (!fs::exists(rc) && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  job.seconds = std::chrono::duration<double>(Clock::now() - signalled_at).count();
  job.output = read_file(log);
  if (!fs::exists(rc)) {
    ADD_FAILURE() << "mpirun still running " << job.seconds << " s after rank 1 (pid " << victim << ") got signal "
                  << signal << "\n" << job.output;
    return job;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the rc file is written before it is closed
  job.exit_code = std::stoi(read_file(rc));
  EXPECT_NE(job.exit_code, 0) << job.output;
  EXPECT_NE(job.exit_code, 124) << "timeout 120 had to stop mpirun\n" << job.output;
  EXPECT_FALSE(fs::exists(dir / "0000400_adapters.safetensors")) << "the run finished before the signal";
  EXPECT_TRUE(ranks_naming(dir).empty()) << "a rank outlived mpirun";
  for (const auto& entry : fs::directory_iterator(dir)) {
    const auto name = entry.path().filename().string();
    if (name.size() == 28 && name.substr(7) == "_adapters.safetensors")
      job.last_checkpoint = std::max(job.last_checkpoint, std::stoi(name.substr(0, 7)));
  }
  EXPECT_GE(job.last_checkpoint, 20);
  return job;
}

// One process picks the job up from its last checkpoint and finishes it.
void expect_one_process_resumes(const fs::path& dir, const std::string& train, int last_checkpoint) {
  auto resumed = test::run_command("timeout -k 5 90 " + train + " --resume");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("Single-process mode"), std::string::npos) << resumed.output;
  std::smatch first;
  ASSERT_TRUE(std::regex_search(resumed.output, first, std::regex(R"(Iter (\d+): Train loss)"))) << resumed.output;
  EXPECT_EQ(std::stoi(first[1]), last_checkpoint + 10) << "resumed from checkpoint " << last_checkpoint << "\n"
                                                       << resumed.output;
  EXPECT_NE(resumed.output.find("Iter " + std::to_string(kIters) + ":"), std::string::npos) << resumed.output;
  EXPECT_TRUE(fs::exists(dir / "0000400_adapters.safetensors"));
  std::cout << "[faults] one process resumed from iteration " << last_checkpoint << " and reached " << kIters << "\n";
}

TEST(MpiFaults, KilledRankEndsMpirunAndOneProcessResumes) {
  const auto dir = test::scratch_dir("killed");
  KillLeftovers cleanup{dir};
  const std::string train = test::train_command(dir, kIters) + kFaultFlags;
  const auto job = signal_rank_one(dir, train, SIGKILL, 60);
  std::cout << "[faults] SIGKILL to rank 1: mpirun exited with " << job.exit_code << " after " << job.seconds
            << " s (limit 60 s)\n";
  const std::regex notice(R"(mpirun noticed that process rank \d+ with PID \d+ on node \S+ exited on signal 9)");
  std::smatch match;
  EXPECT_TRUE(std::regex_search(job.output, match, notice)) << job.output;
  if (!match.empty()) std::cout << "[faults] " << match.str() << "\n";
  ASSERT_GE(job.last_checkpoint, 20);
  expect_one_process_resumes(dir, train, job.last_checkpoint);
}

// A stopped rank (SIGSTOP: alive, sockets open, silent, as a machine cut off from the network) must
// not hold rank 0 forever: the collective watchdog names it after --collective-timeout.
TEST(MpiFaults, StoppedRankIsNamedAfterTheCollectiveTimeoutAndOneProcessResumes) {
  const double timeout = 4;
  const auto dir = test::scratch_dir("stopped");
  KillLeftovers cleanup{dir};
  const std::string train = test::train_command(dir, kIters) + kFaultFlags +
                            fmt::format(" --collective-timeout {}", timeout);
  // The limit: the timeout, a 1 s grace for the silent rank to answer, and mpirun's own shutdown.
  const auto job = signal_rank_one(dir, train, SIGSTOP, timeout + 1 + 10);
  std::cout << "[faults] SIGSTOP to rank 1: mpirun exited with " << job.exit_code << " after " << job.seconds
            << " s (--collective-timeout " << timeout << " s; limit " << timeout + 11 << " s)\n";
  EXPECT_GE(job.seconds, timeout) << job.output;
  EXPECT_NE(job.output.find("error on rank 0 of 2: [mpi] rank 1 did not join a sum over ranks within 4 s "
                            "(--collective-timeout) and does not answer"),
            std::string::npos)
      << job.output;
  ASSERT_GE(job.last_checkpoint, 20);
  expect_one_process_resumes(dir, train, job.last_checkpoint);
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
