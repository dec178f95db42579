#include "plot/loss_plot.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <ctime>
#include <limits>

#include "data/jsonl.h"
#include "plot/canvas.h"
#include "plot/metrics_jsonl.h"

using namespace flotilla::data;

namespace flotilla::plot {

LossHistory read_metrics_jsonl(const std::string& path) {
  LossHistory history;
  plot::for_each_metrics_record(path, [&](const nlohmann::ordered_json& record, int64_t iteration) {
    for (auto [key, series] : {std::pair{"train_loss", &history.train}, std::pair{"val_loss", &history.valid}}) {
      const auto loss = record.find(key);
      if (loss == record.end()) continue;
      if (!loss->is_number() && !loss->is_null())
        throw data::RecordError(fmt::format("\"{}\" is a {}, expected a number", key, data::type_name(*loss)));
      series->emplace_back(iteration, loss->is_null() ? std::numeric_limits<double>::quiet_NaN() : loss->get<double>());
    }
  });
  return history;
}

namespace {

using namespace plot;

constexpr int kWidth = 1000, kHeight = 600;
constexpr double kMarkerRadius = 3.5;
constexpr size_t kMaxMarkedPoints = 150;  // beyond this, markers would merge into a thick line

struct Series {
  const LossSeries& points;
  Rgb color;
  const char* label;
};

bool finite_point(const std::pair<int64_t, double>& p) { return std::isfinite(p.second); }

// A line through the finite points (broken at NaN), with a circle on each point unless there are many.
void draw_series(cairo_t* cr, const Frame& f, const Series& s) {
  set_color(cr, s.color);
  cairo_set_line_width(cr, 2);
  cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
  bool drawing = false;
  for (const auto& p : s.points) {
    if (!finite_point(p)) {
      drawing = false;
      continue;
    }
    (drawing ? cairo_line_to : cairo_move_to)(cr, f.px(p.first), f.py(p.second));
    drawing = true;
  }
  cairo_stroke(cr);
  const size_t finite = std::count_if(s.points.begin(), s.points.end(), finite_point);
  if (finite > kMaxMarkedPoints && finite > 1) return;
  for (const auto& p : s.points) {
    if (!finite_point(p)) continue;
    cairo_new_sub_path(cr);
    cairo_arc(cr, f.px(p.first), f.py(p.second), kMarkerRadius, 0, 2 * M_PI);
  }
  cairo_fill(cr);
}

// matplotlib's loc="best", reduced to the four corners: the one covering the fewest samples of the lines.
std::array<double, 2> legend_corner(const Frame& f, const std::vector<Series>& shown, double w, double h) {
  const double inset = 10;
  const std::array<std::array<double, 2>, 4> corners = {{{f.left + f.width - inset - w, f.top + inset},
                                                         {f.left + inset, f.top + inset},
                                                         {f.left + inset, f.top + f.height - inset - h},
                                                         {f.left + f.width - inset - w, f.top + f.height - inset - h}}};
  std::array<int, 4> covered{};
  for (const Series& s : shown) {
    const std::pair<int64_t, double>* previous = nullptr;
    for (const auto& p : s.points) {
      if (!finite_point(p)) {
        previous = nullptr;
        continue;
      }
      for (int k = previous ? 0 : 8; k <= 8; ++k) {  // the point, and samples along the segment before it
        const double t = k / 8.0;
        const double x = previous ? f.px(previous->first) * (1 - t) + f.px(p.first) * t : f.px(p.first);
        const double y = previous ? f.py(previous->second) * (1 - t) + f.py(p.second) * t : f.py(p.second);
        for (size_t c = 0; c < corners.size(); ++c)
          covered[c] += x >= corners[c][0] && x <= corners[c][0] + w && y >= corners[c][1] && y <= corners[c][1] + h;
      }
      previous = &p;
    }
  }
  return corners[std::min_element(covered.begin(), covered.end()) - covered.begin()];
}

void draw_legend(cairo_t* cr, const Frame& f, const std::vector<Series>& shown) {
  if (shown.empty()) return;
  const double row = 24, sample = 30, pad = 10;
  double label_width = 0;
  for (const Series& s : shown) label_width = std::max(label_width, text_width(cr, s.label, kLegendFont));
  const double w = pad + sample + kGap + label_width + pad, h = pad + row * shown.size() + pad - 6;
  const auto [x, y] = legend_corner(f, shown, w, h);
  const double r = 4;  // matplotlib's rounded "fancybox", 80% opaque over the lines, light grey edge
  cairo_new_sub_path(cr);
  cairo_arc(cr, x + w - r, y + r, r, -M_PI / 2, 0);
  cairo_arc(cr, x + w - r, y + h - r, r, 0, M_PI / 2);
  cairo_arc(cr, x + r, y + h - r, r, M_PI / 2, M_PI);
  cairo_arc(cr, x + r, y + r, r, M_PI, 3 * M_PI / 2);
  cairo_close_path(cr);
  cairo_set_source_rgba(cr, 1, 1, 1, 0.8);
  cairo_fill_preserve(cr);
  cairo_set_source_rgb(cr, 0.8, 0.8, 0.8);
  cairo_set_line_width(cr, 1);
  cairo_stroke(cr);
  for (size_t i = 0; i < shown.size(); ++i) {
    const double cy = y + pad + row * i + (row - 6) / 2;
    set_color(cr, shown[i].color);
    cairo_set_line_width(cr, 2);
    cairo_move_to(cr, x + pad, cy);
    cairo_line_to(cr, x + pad + sample, cy);
    cairo_stroke(cr);
    cairo_arc(cr, x + pad + sample / 2, cy, kMarkerRadius, 0, 2 * M_PI);
    cairo_fill(cr);
    draw_text(cr, shown[i].label, x + pad + sample + kGap, cy, kLegendFont, 0, 0.5);
  }
}

}  // namespace

void plot_losses(const LossSeries& train, const LossSeries& valid, const std::string& png_path,
                 const std::string& title) {
  Canvas canvas(kWidth, kHeight);
  cairo_t* cr = canvas.cr();
  std::vector<Series> shown;
  double x_lo = INFINITY, x_hi = -INFINITY, y_lo = INFINITY, y_hi = -INFINITY;
  for (const Series& s : {Series{train, kBlue, "Train loss"}, Series{valid, kOrange, "Validation loss"}}) {
    if (std::none_of(s.points.begin(), s.points.end(), finite_point)) continue;
    shown.push_back(s);
    for (const auto& p : s.points) {
      if (!finite_point(p)) continue;
      x_lo = std::min(x_lo, double(p.first)), x_hi = std::max(x_hi, double(p.first));
      y_lo = std::min(y_lo, p.second), y_hi = std::max(y_hi, p.second);
    }
  }
  const Frame f = canvas.layout(make_axis(x_lo, x_hi, /*max_ticks=*/9, /*min_step=*/1), make_axis(y_lo, y_hi, 8));
  canvas.draw_axes(f, {"Iteration", "Loss", title});
  for (const Series& s : shown) draw_series(cr, f, s);
  draw_legend(cr, f, shown);
  if (shown.empty())
    draw_text(cr, "no finite loss values", f.left + f.width / 2, f.top + f.height / 2, kLabelFont, 0.5, 0.5);
  canvas.write_png(png_path);
}

std::string timestamped_plot_path() {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d_%H%M%S", &local);
  return std::string("graphs/metrics_") + stamp + ".png";
}

}  // namespace flotilla::plot
