// flotilla plot: a training run's metrics.jsonl -> a PNG of its train and validation loss curves.
#include <iostream>

#include "cli/commands.h"
#include "core/error.h"
#include "plot/loss_plot.h"

namespace flotilla::cli {

void add_plot_command(CLI::App& app, Action& action) {
  struct Flags {
    std::string metrics, out;
  };
  auto flags = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand("plot", "Plot train and validation loss from a metrics.jsonl as a PNG");
  cmd->add_option("--metrics", flags->metrics, "metrics file written by training, e.g. adapters/metrics.jsonl")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--out", flags->out, "PNG to write (default: graphs/metrics_YYYYmmdd_HHMMSS.png)");
  cmd->callback([flags, &action] {
    action = [flags] {
      const LossHistory history = read_metrics_jsonl(flags->metrics);
      if (history.train.empty() && history.valid.empty())
        fail("plot", "'{}' has no train_loss or val_loss records to plot", flags->metrics);
      const std::string out = flags->out.empty() ? timestamped_plot_path() : flags->out;
      plot_losses(history.train, history.valid, out);
      std::cout << out << "\n";
    };
  });
}

}  // namespace flotilla::cli
