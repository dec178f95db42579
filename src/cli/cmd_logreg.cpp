// flotilla logreg: the tutorial's from-scratch logistic regression on the OR gate, on one process
// or under `mpirun -np N` with the rows split across ranks.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdio>

#include "cli/commands.h"
#include "distributed/group.h"
#include "tutorial/logreg.h"

using namespace flotilla::distributed;

namespace flotilla::cli {

namespace {
namespace logreg = tutorial::logreg;

void run_logreg(const logreg::TrainOptions& options, int log_every) {
  auto group = init_group();
  // One line per rank, like `flotilla train`; one process keeps the tutorial's output unchanged.
  if (group->size() > 1) {
    fmt::print("{}\n", group->describe());
    std::fflush(stdout);
  }
  const logreg::Dataset data = logreg::or_gate();
  const bool prints = group->rank() == 0;
  // The loss is float32; printed as Python prints float(np.float32(...)): the double's shortest repr.
  auto result = logreg::train(data, options, *group, [&](int epoch, float loss) {
    if (prints && epoch % log_every == 0) fmt::print("Epoch {:>4} | Loss: {}\n", epoch, static_cast<double>(loss));
  });
  if (!prints) return;
  const auto p = logreg::predict(result.model, data);
  fmt::print("\nFinal predictions:\n");
  for (int64_t i = 0; i < data.rows; ++i) {
    const auto row = data.x.begin() + i * data.cols;
    fmt::print("  x = [{}]  p = {:.4f}  class = {}  target = {}\n", fmt::join(row, row + data.cols, ", "), p[i],
               p[i] >= 0.5f ? 1 : 0, data.y[i]);
  }
  fmt::print("Accuracy: {:.2f}%\n", 100.0 * logreg::accuracy(p, data));
}

}  // namespace

void add_logreg_command(CLI::App& app, Action& action) {
  struct Flags {
    logreg::TrainOptions train;
    int log_every = 100;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand("logreg", "Logistic regression from scratch on the OR gate (the tutorial's warm-up)");
  cmd->add_option("--epochs", f->train.epochs, "full-batch gradient descent steps")->check(CLI::PositiveNumber);
  cmd->add_option("--learning-rate", f->train.learning_rate, "step size")->check(CLI::PositiveNumber);
  cmd->add_option("--log-every", f->log_every, "print the loss every N epochs")->check(CLI::PositiveNumber);
  cmd->callback([f, &action] { action = [f] { run_logreg(f->train, f->log_every); }; });
}

}  // namespace flotilla::cli
