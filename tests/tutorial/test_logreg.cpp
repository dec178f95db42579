// The tutorial's logistic regression: float32 losses against an independent double-precision
// reference, the MPI-ready gradient sums, and the CLI's printed lines.
#include <gtest/gtest.h>
#include <fmt/format.h>

#include <cmath>

#include "tutorial/logreg.h"
#include "support/paths.h"
#include "support/run.h"

namespace flotilla {
namespace {
namespace logreg = tutorial::logreg;

// Gradient descent on the OR gate in double precision, written out by hand.
std::vector<double> reference_losses(int epochs, double lr) {
  const double x[4][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}};
  const double y[4] = {0, 1, 1, 1};
  double w0 = 0, w1 = 0, b = 0;
  std::vector<double> losses;
  for (int epoch = 0; epoch < epochs; ++epoch) {
    double loss = 0, g0 = 0, g1 = 0, gb = 0;
    for (int i = 0; i < 4; ++i) {
      const double p = 1 / (1 + std::exp(-(x[i][0] * w0 + x[i][1] * w1 + b)));
      loss -= y[i] * std::log(p) + (1 - y[i]) * std::log(1 - p);
      g0 += x[i][0] * (p - y[i]);
      g1 += x[i][1] * (p - y[i]);
      gb += p - y[i];
    }
    losses.push_back(loss / 4);
    w0 -= lr * g0 / 4;
    w1 -= lr * g1 / 4;
    b -= lr * gb / 4;
  }
  return losses;
}

TEST(LogReg, MatchesTheDoubleReferenceAndLearnsOr) {
  const auto data = logreg::or_gate();
  const auto result = logreg::train(data, {/*epochs=*/1000, /*learning_rate=*/0.1f});
  ASSERT_EQ(result.losses.size(), 1000u);
  // Zero weights give p = 0.5: the loss is ln 2 rounded to float32, what the tutorial prints.
  EXPECT_EQ(result.losses[0], static_cast<float>(0.6931471824645996));
  EXPECT_EQ(fmt::format("{}", static_cast<double>(result.losses[0])), "0.6931471824645996");

  const auto reference = reference_losses(1000, 0.1);
  double max_diff = 0;
  for (size_t e = 0; e < reference.size(); ++e) max_diff = std::max(max_diff, std::abs(result.losses[e] - reference[e]));
  std::cout << "[golden] logreg losses vs double reference: max |diff| = " << max_diff << " (tolerance 1e-6)\n";
  EXPECT_LE(max_diff, 1e-6);

  for (size_t e = 1; e < result.losses.size(); ++e) ASSERT_LT(result.losses[e], result.losses[e - 1]) << "epoch " << e;
  EXPECT_DOUBLE_EQ(logreg::accuracy(logreg::predict(result.model, data), data), 1.0);
}

TEST(LogReg, GradientSumsOfRowShardsAddUpToTheFullBatch) {
  const auto data = logreg::or_gate();
  const logreg::Model model{{0.3f, -0.2f}, 0.1f};
  // Two "ranks", two rows each: what an all-reduce of the sums would combine.
  logreg::Dataset first{{0, 0, 0, 1}, {0, 1}, 2, 2}, second{{1, 0, 1, 1}, {1, 1}, 2, 2};
  const auto a = logreg::local_gradient_sums(model, first), b = logreg::local_gradient_sums(model, second);
  const auto full = logreg::local_gradient_sums(model, data);
  EXPECT_EQ(a.rows + b.rows, full.rows);
  EXPECT_NEAR(a.loss + b.loss, full.loss, 1e-6);
  EXPECT_NEAR(a.db + b.db, full.db, 1e-6);
  for (int j = 0; j < 2; ++j) EXPECT_NEAR(a.dw[j] + b.dw[j], full.dw[j], 1e-6);
}

TEST(LogReg, CliPrintsTheTutorialLines) {
  auto r = test::run_command(test::cli_path() + " logreg");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto losses = logreg::train(logreg::or_gate(), {}).losses;
  for (int epoch = 0; epoch < 1000; epoch += 100) {
    const std::string line = fmt::format("Epoch {:>4} | Loss: {}\n", epoch, static_cast<double>(losses[epoch]));
    EXPECT_NE(r.output.find(line), std::string::npos) << line << r.output;
  }
  EXPECT_EQ(r.output.rfind("Epoch    0 | Loss: 0.6931471824645996\nEpoch  100 | Loss: ", 0), 0u) << r.output;
  EXPECT_EQ(r.output.find("Epoch  950"), std::string::npos);
  EXPECT_NE(r.output.find("  x = [0, 0]  p = 0."), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("class = 0  target = 0\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\nAccuracy: 100.00%\n"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace flotilla
