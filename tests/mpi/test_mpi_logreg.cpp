// `flotilla logreg` under `mpirun -np N`: the OR gate's rows split across ranks, local gradient sums
// all-reduced, and the printed losses the same as one process's (to the printed precision).
#include <gtest/gtest.h>

#include <cmath>
#include <regex>
#include <string>
#include <vector>

#include "support/paths.h"
#include "support/run.h"

namespace flotilla {
namespace {

std::string mpirun(int ranks) {
  return "mpirun -np " + std::to_string(ranks) + " --allow-run-as-root --oversubscribe --bind-to none ";
}

struct LossLine {
  int epoch;
  double loss;
};

std::vector<LossLine> loss_lines(const std::string& output) {
  static const std::regex line(R"(Epoch\s+(\d+) \| Loss: ([0-9.eE+-]+))");
  std::vector<LossLine> lines;
  for (std::sregex_iterator it(output.begin(), output.end(), line), end; it != end; ++it)
    lines.push_back({std::stoi((*it)[1]), std::stod((*it)[2])});
  return lines;
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// Summing rows {0, 2} and {1, 3} separately and then across ranks rounds differently in float32
// than one pass over rows 0..3, so the printed shortest reprs may differ in the last digits.
TEST(MpiLogReg, RanksPrintTheSameLossesAsOneProcess) {
  const std::string flags = " logreg --epochs 1000 --log-every 50";
  auto one = test::run_command(test::cli_path() + flags);
  ASSERT_EQ(one.exit_code, 0) << one.output;
  const auto expected = loss_lines(one.output);
  ASSERT_EQ(expected.size(), 20u) << one.output;
  EXPECT_EQ(one.output.find("Distributed mode"), std::string::npos) << one.output;

  for (int ranks : {2, 3}) {
    auto many = test::run_command(mpirun(ranks) + test::cli_path() + flags);
    ASSERT_EQ(many.exit_code, 0) << many.output;
    for (int r = 0; r < ranks; ++r) {
      const auto line = "Distributed mode: rank " + std::to_string(r) + " of " + std::to_string(ranks);
      EXPECT_EQ(count(many.output, line), 1u) << line << "\n" << many.output;
    }
    // Only rank 0 prints the losses and the predictions.
    const auto got = loss_lines(many.output);
    ASSERT_EQ(got.size(), expected.size()) << many.output;
    EXPECT_EQ(count(many.output, "Accuracy: 100.00%"), 1u) << many.output;
    double worst = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].epoch, expected[i].epoch);
      worst = std::max(worst, std::abs(got[i].loss - expected[i].loss) / std::abs(expected[i].loss));
    }
    std::cout << "[mpi] logreg on " << ranks << " ranks vs 1 process, " << got.size()
              << " printed losses: max relative diff = " << worst << " (tolerance 1e-6)\n";
    EXPECT_LE(worst, 1e-6);
  }
}

}  // namespace
}  // namespace flotilla
