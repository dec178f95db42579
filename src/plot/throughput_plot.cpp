#include "plot/throughput_plot.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "data/jsonl.h"
#include "plot/canvas.h"
#include "plot/metrics_jsonl.h"

using namespace flotilla::data;

namespace flotilla::plot {

std::vector<double> read_rank_throughput(const std::string& metrics_jsonl) {
  std::vector<double> sum;
  size_t records = 0;
  plot::for_each_metrics_record(metrics_jsonl, [&](const nlohmann::ordered_json& record, int64_t) {
    const auto field = record.find("rank_tokens_per_sec");
    if (field == record.end()) return;
    if (!field->is_array())
      throw data::RecordError(fmt::format("\"rank_tokens_per_sec\" is a {}, expected an array of numbers",
                                          data::type_name(*field)));
    if (field->empty()) return;
    if (records > 0 && field->size() != sum.size())
      throw data::RecordError(fmt::format("\"rank_tokens_per_sec\" has {} ranks, earlier records had {}",
                                          field->size(), sum.size()));
    sum.resize(field->size());
    for (size_t rank = 0; rank < field->size(); ++rank) {
      const auto& value = (*field)[rank];
      if (!value.is_number())
        throw data::RecordError(fmt::format("\"rank_tokens_per_sec\"[{}] is a {}, expected a number", rank,
                                            data::type_name(value)));
      sum[rank] += value.get<double>();
    }
    ++records;
  });
  for (double& s : sum) s /= records;
  return sum;
}

namespace {

using namespace plot;

constexpr int kWidth = 1000, kHeight = 600;
constexpr double kBarWidth = 0.8;  // matplotlib's bar() default, in units of the rank spacing
constexpr double kValueFont = 12;

// Whole tokens from 100 up ("1235"), three significant digits below ("12.3", "0.25").
std::string format_value(double v) { return v >= 100 ? fmt::format("{:.0f}", v) : fmt::format("{:.3g}", v); }

}  // namespace

void plot_rank_throughput(const std::vector<double>& tokens_per_sec, const std::string& png_path,
                          const std::string& title) {
  if (tokens_per_sec.empty()) fail("plot", "no per-rank throughput to plot (0 ranks)");
  for (size_t rank = 0; rank < tokens_per_sec.size(); ++rank)
    if (!std::isfinite(tokens_per_sec[rank]) || tokens_per_sec[rank] < 0)
      fail("plot", "rank {} has throughput {} tokens/sec, expected a finite value >= 0", rank, tokens_per_sec[rank]);
  const size_t n = tokens_per_sec.size();
  const double top = *std::max_element(tokens_per_sec.begin(), tokens_per_sec.end());
  const double mean = std::accumulate(tokens_per_sec.begin(), tokens_per_sec.end(), 0.0) / n;

  Canvas canvas(kWidth, kHeight);
  cairo_t* cr = canvas.cr();
  // x: ranks at 0..n-1 with matplotlib's 5% margins beyond the bar edges. y: from 0, headroom for the values.
  Axis x = make_axis(-kBarWidth / 2, n - 1 + kBarWidth / 2, /*max_ticks=*/1);
  x.ticks.clear();
  for (size_t rank = 0; rank < n; ++rank) {
    x.ticks.push_back(rank);
    x.labels.push_back(fmt::format("rank {}", rank));
  }
  const Frame f = canvas.layout(std::move(x), fixed_axis(0, top > 0 ? top * 1.12 : 1, /*max_ticks=*/8));
  canvas.draw_axes(f, {"", "Tokens/sec", title});

  set_color(cr, kBlue);
  for (size_t rank = 0; rank < n; ++rank) {
    const double left = f.px(rank - kBarWidth / 2), right = f.px(rank + kBarWidth / 2);
    cairo_rectangle(cr, left, f.py(tokens_per_sec[rank]), right - left, f.py(0) - f.py(tokens_per_sec[rank]));
  }
  cairo_fill(cr);
  // Values above the bars when each fits over its own bar; with many ranks they would overlap.
  const double slot = f.px(1) - f.px(0);
  const bool values_fit = std::all_of(tokens_per_sec.begin(), tokens_per_sec.end(),
                                      [&](double v) { return text_width(cr, format_value(v), kValueFont) < slot; });
  if (values_fit)
    for (size_t rank = 0; rank < n; ++rank)
      draw_text(cr, format_value(tokens_per_sec[rank]), f.px(rank), f.py(tokens_per_sec[rank]) - 3, kValueFont,
                0.5, 1);

  // The mean as a dashed line across the frame, labelled at its right end above the line.
  const double y = std::round(f.py(mean)) + 0.5;
  const double dash[] = {6, 4};
  set_color(cr, kBlack);
  cairo_set_line_width(cr, 1.5);
  cairo_set_dash(cr, dash, 2, 0);
  cairo_move_to(cr, f.left, y);
  cairo_line_to(cr, f.left + f.width, y);
  cairo_stroke(cr);
  cairo_set_dash(cr, nullptr, 0, 0);
  const std::string label = fmt::format("mean {}", format_value(mean));
  const double label_width = text_width(cr, label, kValueFont);
  const double lx = f.left + f.width - 6 - label_width, ly = y - 4;
  cairo_set_source_rgba(cr, 1, 1, 1, 0.8);  // keeps the label readable where it crosses a bar
  cairo_rectangle(cr, lx - 3, ly - kValueFont * 1.2, label_width + 6, kValueFont * 1.2 + 1);
  cairo_fill(cr);
  draw_text(cr, label, lx, ly, kValueFont, 0, 1);
  canvas.write_png(png_path);
}

}  // namespace flotilla::plot
