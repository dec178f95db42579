// Loss curves of a training run as a PNG line chart (drawn with cairo), and the metrics.jsonl reader behind it.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "plot/ticks.h"

namespace flotilla::plot {

using LossSeries = std::vector<std::pair<int64_t, double>>;  // (iteration, loss)

struct LossHistory {
  LossSeries train;  // records with "train_loss"
  LossSeries valid;  // records with "val_loss"
};

// Reads the records written by MetricsLog; a null loss (NaN serialised by JSON) is kept as NaN.
LossHistory read_metrics_jsonl(const std::string& path);

// A 1000x600 chart in matplotlib's default look: train in blue, validation in orange, with a legend.
// Non-finite losses are skipped (the line breaks there); the PNG is written atomically, parent folders created.
void plot_losses(const LossSeries& train, const LossSeries& valid, const std::string& png_path,
                 const std::string& title = "Training and Validation Loss");

// graphs/metrics_YYYYmmdd_HHMMSS.png, in local time like the file names mlx-lm users know.
std::string timestamped_plot_path();

}  // namespace flotilla::plot
