// Waits for an MPI request with a deadline, so one stopped, hung or disconnected rank cannot hold
// the others forever. Built only with MPI.
#pragma once
#ifdef FLOTILLA_WITH_MPI
#include <mpi.h>

#include "distributed/group.h"

#include <string>
#include <vector>

namespace flotilla::distributed {

// Turns an MPI error code into an Error naming the call.
void check_mpi(int code, const char* call);

class CollectiveWatchdog {
 public:
  CollectiveWatchdog(int rank, int size) : rank_(rank), size_(size) {}
  void set_timeout(double seconds) { timeout_seconds_ = seconds; }
  double timeout() const { return timeout_seconds_; }

  // Completes `request`. Past the timeout it asks every other rank whether it is alive (ranks that
  // are waiting too answer from here) and throws an error naming the ranks that stay silent.
  void wait(MPI_Request& request, const std::string& what);

 private:
  void answer_questions();
  std::vector<int> silent_ranks();
  [[noreturn]] void fail_timed_out(const std::string& what);

  int rank_, size_;
  double timeout_seconds_ = kDefaultCollectiveTimeoutSeconds;  // 0: wait forever
  int answer_ = 0;              // the buffer of replies in flight (their content does not matter)
};

}  // namespace flotilla::distributed
#endif
