// `flotilla logreg` under `mpirun -np N`: the OR gate's rows split across ranks, local gradient sums
// all-reduced, and the printed losses the same as one process's (to the printed precision).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/mpi.h"
#include "support/paths.h"
#include "support/run.h"

namespace flotilla {
namespace {

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// Rows {0, 2} and {1, 3} summed per rank and then across ranks: the losses of one pass over 0..3.
TEST(MpiLogReg, RanksPrintTheSameLossesAsOneProcess) {
  const std::string flags = " logreg --epochs 1000 --log-every 50";
  auto one = test::run_command(test::cli_path() + flags);
  ASSERT_EQ(one.exit_code, 0) << one.output;
  const auto expected = test::logreg_losses(one.output);
  ASSERT_EQ(expected.size(), 20u) << one.output;
  EXPECT_EQ(one.output.find("Distributed mode"), std::string::npos) << one.output;

  for (int ranks : {2, 3}) {
    auto many = test::run_command(test::mpirun_command(ranks) + test::cli_path() + flags);
    ASSERT_EQ(many.exit_code, 0) << many.output;
    for (int r = 0; r < ranks; ++r) {
      const auto line = "Distributed mode: rank " + std::to_string(r) + " of " + std::to_string(ranks);
      EXPECT_EQ(count(many.output, line), 1u) << line << "\n" << many.output;
    }
    // Only rank 0 prints the losses and the predictions.
    test::expect_same_logreg_losses(one.output, many.output, "[mpi] " + std::to_string(ranks) + " ranks:");
    EXPECT_EQ(count(many.output, "Accuracy: 100.00%"), 1u) << many.output;
  }
}

}  // namespace
}  // namespace flotilla
