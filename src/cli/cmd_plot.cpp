// flotilla plot: a training run's metrics.jsonl -> a PNG of its train and validation loss curves, and optionally
// a PNG of the per-rank throughput of a distributed run.
#include <iostream>

#include "cli/commands.h"
#include "core/error.h"
#include "plot/loss_plot.h"
#include "plot/throughput_plot.h"

using namespace flotilla::plot;

namespace flotilla::cli {

void add_plot_command(CLI::App& app, Action& action) {
  struct Flags {
    std::string metrics, out, ranks_out;
  };
  auto flags = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand("plot", "Plot train and validation loss from a metrics.jsonl as a PNG");
  cmd->add_option("--metrics", flags->metrics, "metrics file written by training, e.g. adapters/metrics.jsonl")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--out", flags->out, "PNG to write (default: graphs/metrics_YYYYmmdd_HHMMSS.png)");
  cmd->add_option("--ranks-out", flags->ranks_out, "also write a bar chart of tokens/sec per rank (mpirun runs) here");
  cmd->callback([flags, &action] {
    action = [flags] {
      const LossHistory history = read_metrics_jsonl(flags->metrics);
      if (history.train.empty() && history.valid.empty())
        fail("plot", "'{}' has no train_loss or val_loss records to plot", flags->metrics);
      // Both inputs are checked before either PNG is written.
      std::vector<double> per_rank;
      if (!flags->ranks_out.empty()) {
        per_rank = read_rank_throughput(flags->metrics);
        if (per_rank.empty())
          fail("plot", "no rank_tokens_per_sec in {}; it is written by `flotilla train` under mpirun", flags->metrics);
      }
      const std::string out = flags->out.empty() ? timestamped_plot_path() : flags->out;
      plot_losses(history.train, history.valid, out);
      std::cout << out << "\n";
      if (per_rank.empty()) return;
      plot_rank_throughput(per_rank, flags->ranks_out);
      std::cout << flags->ranks_out << "\n";
    };
  });
}

}  // namespace flotilla::cli
