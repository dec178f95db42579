#include "plot/loss_plot.h"

#include <cairo.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <limits>
#include <memory>
#include <ostream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "data/jsonl.h"

namespace flotilla {

LossHistory read_metrics_jsonl(const std::string& path) {
  LossHistory history;
  data::LineReader reader(path);
  data::Line line;
  while (reader.next(line)) {
    if (line.blank()) continue;
    try {
      if (line.too_long) throw data::RecordError("line too long for a metrics record");
      const auto record = data::parse_record(line.text);
      const auto iteration = record.find("iteration");
      if (iteration == record.end() || !iteration->is_number_integer())
        throw data::RecordError("expected an integer \"iteration\"");
      for (auto [key, series] : {std::pair{"train_loss", &history.train}, std::pair{"val_loss", &history.valid}}) {
        const auto loss = record.find(key);
        if (loss == record.end()) continue;
        if (!loss->is_number() && !loss->is_null())
          throw data::RecordError(fmt::format("\"{}\" is a {}, expected a number", key, data::type_name(*loss)));
        series->emplace_back(iteration->get<int64_t>(),
                             loss->is_null() ? std::numeric_limits<double>::quiet_NaN() : loss->get<double>());
      }
    } catch (const data::RecordError& e) {
      fail("metrics", "{}", data::describe(path, line.number, e));
    }
  }
  return history;
}

std::vector<double> nice_ticks(double lo, double hi, int max_ticks, double min_step) {
  if (!(lo < hi) || !std::isfinite(hi - lo) || max_ticks < 1) return {};
  // The smallest step mantissa x 10^exponent that fits; k * mantissa / 10^-exponent keeps 0.3 == 3 / 10 exact.
  int exponent = static_cast<int>(std::floor(std::log10(std::max((hi - lo) / max_ticks, min_step))));
  for (;; ++exponent) {
    const double scale = std::pow(10.0, std::abs(exponent));
    for (int mantissa : {1, 2, 5}) {
      auto tick = [&](double k) { return exponent < 0 ? k * mantissa / scale : k * mantissa * scale; };
      if (tick(1) < min_step * (1 - 1e-12)) continue;
      const double first = std::ceil(lo / tick(1) - 1e-9), last = std::floor(hi / tick(1) + 1e-9);
      if (last - first + 1 > max_ticks) continue;
      std::vector<double> ticks;
      for (int i = 0; i <= last - first; ++i) ticks.push_back(tick(first + i) + 0.0);  // + 0.0 turns -0 into 0
      return ticks;
    }
  }
}

namespace {

constexpr int kWidth = 1000, kHeight = 600;
constexpr double kTickFont = 14, kLabelFont = 15, kTitleFont = 18, kLegendFont = 14;
constexpr double kTickLength = 5, kGap = 8, kMarkerRadius = 3.5;
constexpr size_t kMaxMarkedPoints = 150;  // beyond this, markers would merge into a thick line

struct Rgb {
  double r, g, b;
};
constexpr Rgb kBlack{0, 0, 0}, kTrainBlue{0x1f / 255.0, 0x77 / 255.0, 0xb4 / 255.0},
    kValidOrange{0xff / 255.0, 0x7f / 255.0, 0x0e / 255.0};

struct Series {
  const LossSeries& points;
  Rgb color;
  const char* label;
};

struct Axis {
  double lo, hi;
  std::vector<double> ticks;
  int decimals;  // the fewest that print every tick exactly
};

struct Frame {
  double left, top, width, height;
  Axis x, y;
  double px(double v) const { return left + (v - x.lo) / (x.hi - x.lo) * width; }
  double py(double v) const { return top + height - (v - y.lo) / (y.hi - y.lo) * height; }
};

bool finite_point(const std::pair<int64_t, double>& p) { return std::isfinite(p.second); }

// matplotlib's 5% margins around the data; an empty or flat range is widened first so the axis has extent.
Axis make_axis(double lo, double hi, int max_ticks, double min_step) {
  if (!(lo <= hi)) lo = 0, hi = 1;
  if (hi - lo <= 1e-12 * std::max(1.0, std::abs(hi))) {
    const double pad = std::max({std::abs(lo) * 0.05, min_step, 1e-3});
    lo -= pad, hi += pad;
  }
  const double margin = 0.05 * (hi - lo);
  Axis axis{lo - margin, hi + margin, {}, 0};
  axis.ticks = nice_ticks(axis.lo, axis.hi, max_ticks, min_step);
  const auto exact_with = [&](int decimals) {
    return std::all_of(axis.ticks.begin(), axis.ticks.end(), [&](double t) {
      const double scaled = t * std::pow(10.0, decimals);
      return std::abs(scaled - std::round(scaled)) < 1e-6 * std::max(1.0, std::abs(scaled));
    });
  };
  while (axis.decimals < 12 && !exact_with(axis.decimals)) ++axis.decimals;
  return axis;
}

std::string tick_label(const Axis& axis, double v) { return fmt::format("{:.{}f}", v, axis.decimals); }

void set_color(cairo_t* cr, Rgb c) { cairo_set_source_rgb(cr, c.r, c.g, c.b); }

double text_width(cairo_t* cr, const std::string& text, double size) {
  cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
  cairo_text_extents_t extents;
  cairo_text_extents(cr, text.c_str(), &extents);
  return extents.x_advance;
}

// Draws text anchored at (x, y): ax/ay are 0 (left/top), 0.5 (centre) or 1 (right/bottom) of its box.
void draw_text(cairo_t* cr, const std::string& text, double x, double y, double size, double ax, double ay,
               double angle = 0) {
  const double width = text_width(cr, text, size);
  cairo_font_extents_t font;
  cairo_font_extents(cr, &font);
  cairo_save(cr);
  cairo_translate(cr, x, y);
  cairo_rotate(cr, angle);
  cairo_move_to(cr, -ax * width, -ay * (font.ascent + font.descent) + font.ascent);
  set_color(cr, kBlack);
  cairo_show_text(cr, text.c_str());
  cairo_restore(cr);
}

// Spines, outward ticks with labels, axis labels and title; 0.5 offsets keep 1 px lines crisp.
void draw_axes(cairo_t* cr, const Frame& f, const std::string& title) {
  set_color(cr, kBlack);
  cairo_set_line_width(cr, 1);
  cairo_rectangle(cr, f.left + 0.5, f.top + 0.5, f.width, f.height);
  const double bottom = f.top + f.height;
  for (double t : f.x.ticks) {
    const double x = std::round(f.px(t)) + 0.5;
    cairo_move_to(cr, x, bottom + 0.5);
    cairo_line_to(cr, x, bottom + 0.5 + kTickLength);
  }
  for (double t : f.y.ticks) {
    const double y = std::round(f.py(t)) + 0.5;
    cairo_move_to(cr, f.left + 0.5, y);
    cairo_line_to(cr, f.left + 0.5 - kTickLength, y);
  }
  cairo_stroke(cr);
  const double x_labels_top = bottom + kTickLength + kGap / 2;
  for (double t : f.x.ticks) draw_text(cr, tick_label(f.x, t), f.px(t), x_labels_top, kTickFont, 0.5, 0);
  for (double t : f.y.ticks)
    draw_text(cr, tick_label(f.y, t), f.left - kTickLength - kGap / 2, f.py(t), kTickFont, 1, 0.5);
  draw_text(cr, "Iteration", f.left + f.width / 2, kHeight - kGap, kLabelFont, 0.5, 1);
  draw_text(cr, "Loss", kGap, f.top + f.height / 2, kLabelFont, 0.5, 0, -M_PI / 2);
  draw_text(cr, title, f.left + f.width / 2, f.top / 2, kTitleFont, 0.5, 0.5);
}

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

cairo_status_t write_png_chunk(void* closure, const unsigned char* data, unsigned int length) {
  auto& out = *static_cast<std::ostream*>(closure);
  out.write(reinterpret_cast<const char*>(data), length);
  return out ? CAIRO_STATUS_SUCCESS : CAIRO_STATUS_WRITE_ERROR;
}

}  // namespace

void plot_losses(const LossSeries& train, const LossSeries& valid, const std::string& png_path,
                 const std::string& title) {
  std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)> surface(
      cairo_image_surface_create(CAIRO_FORMAT_ARGB32, kWidth, kHeight), cairo_surface_destroy);
  std::unique_ptr<cairo_t, decltype(&cairo_destroy)> context(cairo_create(surface.get()), cairo_destroy);
  cairo_t* cr = context.get();
  if (cairo_status(cr) != CAIRO_STATUS_SUCCESS)
    fail("plot", "cannot create a {}x{} image: {}", kWidth, kHeight, cairo_status_to_string(cairo_status(cr)));
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);

  std::vector<Series> shown;
  double x_lo = INFINITY, x_hi = -INFINITY, y_lo = INFINITY, y_hi = -INFINITY;
  for (const Series& s : {Series{train, kTrainBlue, "Train loss"}, Series{valid, kValidOrange, "Validation loss"}}) {
    if (std::none_of(s.points.begin(), s.points.end(), finite_point)) continue;
    shown.push_back(s);
    for (const auto& p : s.points) {
      if (!finite_point(p)) continue;
      x_lo = std::min(x_lo, double(p.first)), x_hi = std::max(x_hi, double(p.first));
      y_lo = std::min(y_lo, p.second), y_hi = std::max(y_hi, p.second);
    }
  }
  Frame f{0, 0, 0, 0, make_axis(x_lo, x_hi, /*max_ticks=*/9, /*min_step=*/1), make_axis(y_lo, y_hi, 8, 0)};
  double y_labels_width = 0;
  for (double t : f.y.ticks) y_labels_width = std::max(y_labels_width, text_width(cr, tick_label(f.y, t), kTickFont));
  // Left to right: margin, rotated "Loss", gap, tick labels, ticks. Top: the title. Bottom: tick labels, "Iteration".
  f.left = std::ceil(kGap + kLabelFont * 1.2 + kGap + y_labels_width + kGap / 2 + kTickLength);
  f.top = std::ceil(kTitleFont * 3);
  f.width = kWidth - f.left - 30;
  f.height = kHeight - f.top - std::ceil(kTickLength + kGap / 2 + kTickFont * 1.2 + kGap + kLabelFont * 1.2 + kGap);

  draw_axes(cr, f, title);
  for (const Series& s : shown) draw_series(cr, f, s);
  draw_legend(cr, f, shown);
  if (shown.empty())
    draw_text(cr, "no finite loss values", f.left + f.width / 2, f.top + f.height / 2, kLabelFont, 0.5, 0.5);
  cairo_surface_flush(surface.get());

  const auto parent = std::filesystem::path(png_path).parent_path();
  std::error_code ec;
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  if (ec) fail("plot", "cannot create folder '{}': {}", parent.string(), ec.message());
  write_file_atomically(png_path, [&](std::ostream& out) {
    const cairo_status_t status = cairo_surface_write_to_png_stream(surface.get(), write_png_chunk, &out);
    if (status != CAIRO_STATUS_SUCCESS)
      fail("plot", "cannot write PNG '{}': {}", png_path, cairo_status_to_string(status));
  });
}

std::string timestamped_plot_path() {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d_%H%M%S", &local);
  return std::string("graphs/metrics_") + stamp + ".png";
}

}  // namespace flotilla
