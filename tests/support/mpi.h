// How the MPI tests start ranks (local mpirun, or two network-namespace "hosts") and read their output.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "support/run.h"

namespace flotilla::test {

// "mpirun -np N ... " for ranks on this machine, unbound so that they share its cores.
std::string mpirun_command(int ranks);

// `scripts/two_hosts.sh OPTIONS -- COMMAND`: one rank in each of two namespaces joined by a veth.
struct TwoHostsRun {
  RunResult result;
  std::string skip_reason;  // set when the script exited 77 (no namespaces here)
  int64_t tx_bytes = -1;    // bytes host A sent and received over the veth during mpirun
  int64_t rx_bytes = -1;
};
TwoHostsRun run_on_two_hosts(const std::string& command, const std::string& options = "");

// B from the trainer's "Gradient all-reduce: N bucket(s), B bytes of <dtype> per step" line;
// a failed expectation (and 0) when the line is missing.
int64_t reported_wire_bytes(const std::string& output, const std::string& dtype);

// The "Epoch N | Loss: x" lines `flotilla logreg` prints.
struct LogRegLoss {
  int epoch;
  double loss;
};
std::vector<LogRegLoss> logreg_losses(const std::string& output);

// Expects `got` to print the losses of `expected` within 1e-6 relative: rows summed per rank and
// then across ranks round differently in float32, so the last printed digits may differ.
void expect_same_logreg_losses(const std::string& expected, const std::string& got, const std::string& label);

}  // namespace flotilla::test
