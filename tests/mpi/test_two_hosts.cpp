// Data parallelism across two "hosts": scripts/two_hosts.sh puts one rank in each of two network
// namespaces joined by a veth pair, so every all-reduce is real TCP between them. Where namespaces
// cannot be made (no root, no CAP_SYS_ADMIN) the script exits 77 and the tests skip with its reason
// (and fail under CI).
#include <gtest/gtest.h>

#include "support/mpi.h"
#include "support/paths.h"
#include "support/skip.h"
#include "support/run.h"
#include "support/train_fixture.h"

namespace flotilla {
namespace {


void expect_both_ranks(const std::string& output) {
  EXPECT_NE(output.find("Distributed mode: rank 0 of 2"), std::string::npos) << output;
  EXPECT_NE(output.find("Distributed mode: rank 1 of 2"), std::string::npos) << output;
}

TEST(TwoHosts, TrainingEqualsOneProcess) {
  const int steps = 50;
  auto one = test::scratch_dir("one"), two = test::scratch_dir("two");
  auto hosts = test::run_on_two_hosts(test::train_command(two, steps) + test::kEquivalenceFlags);
  if (!hosts.skip_reason.empty()) SKIP_OR_FAIL_UNDER_CI(hosts.skip_reason);
  ASSERT_EQ(hosts.result.exit_code, 0) << hosts.result.output;
  expect_both_ranks(hosts.result.output);
  auto alone = test::run_command(test::train_command(one, steps) + test::kEquivalenceFlags);
  ASSERT_EQ(alone.exit_code, 0) << alone.output;
  test::expect_same_training(one, two, steps, "[two hosts]");

  // A 2-rank all-reduce sends and receives every byte of the gradients at least once per step.
  const int64_t per_step = test::reported_wire_bytes(hosts.result.output, "Float");
  const int64_t least = steps * per_step;
  std::cout << "[two hosts] veth bytes during the run: sent " << hosts.tx_bytes << ", received " << hosts.rx_bytes
            << " (at least " << steps << " steps x " << per_step << " gradient bytes = " << least << ")\n";
  EXPECT_GT(per_step, 0);
  EXPECT_GE(hosts.tx_bytes, least) << hosts.result.output;
  EXPECT_GE(hosts.rx_bytes, least) << hosts.result.output;
}

TEST(TwoHosts, LogRegPrintsTheLossesOfOneProcess) {
  const std::string flags = " logreg --epochs 1000 --log-every 50";
  auto hosts = test::run_on_two_hosts(test::cli_path() + flags);
  if (!hosts.skip_reason.empty()) SKIP_OR_FAIL_UNDER_CI(hosts.skip_reason);
  ASSERT_EQ(hosts.result.exit_code, 0) << hosts.result.output;
  expect_both_ranks(hosts.result.output);
  auto alone = test::run_command(test::cli_path() + flags);
  ASSERT_EQ(alone.exit_code, 0) << alone.output;
  test::expect_same_logreg_losses(alone.output, hosts.result.output, "[two hosts]");
  std::cout << "[two hosts] veth bytes: sent " << hosts.tx_bytes << ", received " << hosts.rx_bytes << "\n";
}

}  // namespace
}  // namespace flotilla
