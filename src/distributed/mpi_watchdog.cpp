#ifdef FLOTILLA_WITH_MPI
#include "distributed/mpi_watchdog.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "core/error.h"

namespace flotilla::distributed {

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kQuestionTag = 31001, kAnswerTag = 31002;

Clock::time_point after(double seconds) {
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

// MPI moves data only inside its calls: poll hard at first, then yield the core between polls.
void pause_after(int polls) {
  if (polls > 1000) std::this_thread::sleep_for(std::chrono::microseconds(50));
}

}  // namespace

void check_mpi(int code, const char* call) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  fail("mpi", "{} failed: {}", call, std::string(text, length));
}

void CollectiveWatchdog::wait(MPI_Request& request, const std::string& what) {
  if (timeout_seconds_ <= 0) {
    check_mpi(MPI_Wait(&request, MPI_STATUS_IGNORE), "MPI_Wait");
    return;
  }
  const auto deadline = after(timeout_seconds_);
  for (int polls = 0;; ++polls) {
    int done = 0;
    check_mpi(MPI_Test(&request, &done, MPI_STATUS_IGNORE), "MPI_Test");
    if (done) return;
    answer_questions();
    if (Clock::now() > deadline) fail_timed_out(what);
    pause_after(polls);
  }
}

void CollectiveWatchdog::answer_questions() {
  for (;;) {
    int pending = 0;
    MPI_Status status;
    MPI_Iprobe(MPI_ANY_SOURCE, kQuestionTag, MPI_COMM_WORLD, &pending, &status);
    if (!pending) return;
    int question = 0;
    MPI_Recv(&question, 1, MPI_INT, status.MPI_SOURCE, kQuestionTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    MPI_Request reply;
    MPI_Isend(&answer_, 1, MPI_INT, status.MPI_SOURCE, kAnswerTag, MPI_COMM_WORLD, &reply);
    MPI_Request_free(&reply);
  }
}

// A rank that is waiting in any collective answers within milliseconds; give it a generous grace.
std::vector<int> CollectiveWatchdog::silent_ranks() {
  std::vector<MPI_Request> questions, answers;
  std::vector<int> peers, replies(size_);
  for (int peer = 0; peer < size_; ++peer) {
    if (peer == rank_) continue;
    peers.push_back(peer);
    questions.emplace_back();
    MPI_Isend(&rank_, 1, MPI_INT, peer, kQuestionTag, MPI_COMM_WORLD, &questions.back());
    answers.emplace_back();
    MPI_Irecv(&replies[peer], 1, MPI_INT, peer, kAnswerTag, MPI_COMM_WORLD, &answers.back());
  }
  const auto deadline = after(std::clamp(timeout_seconds_ / 10, 1.0, 10.0));
  for (int polls = 0; Clock::now() < deadline; ++polls) {
    int all = 0;
    MPI_Testall(static_cast<int>(answers.size()), answers.data(), &all, MPI_STATUSES_IGNORE);
    if (all) break;
    answer_questions();
    pause_after(polls);
  }
  std::vector<int> silent;
  for (size_t i = 0; i < peers.size(); ++i) {
    if (answers[i] == MPI_REQUEST_NULL) continue;
    silent.push_back(peers[i]);
    MPI_Cancel(&answers[i]);
    MPI_Request_free(&answers[i]);
  }
  for (auto& q : questions) {
    if (q != MPI_REQUEST_NULL) MPI_Request_free(&q);
  }
  return silent;
}

void CollectiveWatchdog::fail_timed_out(const std::string& what) {
  const auto silent = silent_ranks();
  if (silent.empty())
    fail("mpi", "{} did not complete within {} s (--collective-timeout), yet every rank answers: they wait in "
         "different collectives, which is a Flotilla bug", what, timeout_seconds_);
  fail("mpi", "{} {} did not join {} within {} s (--collective-timeout) and {} not answer: stopped, hung or cut off "
       "from the network. A rank that is only slow needs a longer --collective-timeout; --resume continues from the "
       "last checkpoint", silent.size() == 1 ? "rank" : "ranks", fmt::join(silent, ", "), what, timeout_seconds_,
       silent.size() == 1 ? "does" : "do");
}

}  // namespace flotilla::distributed
#endif
