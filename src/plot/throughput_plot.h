// Per-rank training throughput of a distributed run as a PNG bar chart, and the metrics.jsonl reader behind it.
#pragma once
#include <string>
#include <vector>

namespace flotilla::plot {

// The "rank_tokens_per_sec" arrays of the train records, averaged per rank over the records that have one
// (a 1-process run writes an empty array, which is skipped). Empty if no record has it; records whose arrays
// differ in length fail as "[metrics] file:line: ...", like any malformed line.
std::vector<double> read_rank_throughput(const std::string& metrics_jsonl);

// A 1000x600 bar chart in matplotlib's default look: one blue bar per rank with its value above it, a y axis
// "Tokens/sec" from 0, and a dashed line at the mean. Throws on empty input or a negative or non-finite value;
// the PNG is written atomically, parent folders created.
void plot_rank_throughput(const std::vector<double>& tokens_per_sec, const std::string& png_path,
                          const std::string& title = "Training throughput per rank");

}  // namespace flotilla::plot
