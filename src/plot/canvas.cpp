#include "plot/canvas.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <ostream>

#include "core/atomic_file.h"
#include "core/error.h"

namespace flotilla::plot {

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

Axis fixed_axis(double lo, double hi, int max_ticks, double min_step) {
  Axis axis{lo, hi, nice_ticks(lo, hi, max_ticks, min_step), 0, {}};
  const auto exact_with = [&](int decimals) {
    return std::all_of(axis.ticks.begin(), axis.ticks.end(), [&](double t) {
      const double scaled = t * std::pow(10.0, decimals);
      return std::abs(scaled - std::round(scaled)) < 1e-6 * std::max(1.0, std::abs(scaled));
    });
  };
  while (axis.decimals < 12 && !exact_with(axis.decimals)) ++axis.decimals;
  return axis;
}

Axis make_axis(double lo, double hi, int max_ticks, double min_step) {
  if (!(lo <= hi)) lo = 0, hi = 1;
  if (hi - lo <= 1e-12 * std::max(1.0, std::abs(hi))) {
    const double pad = std::max({std::abs(lo) * 0.05, min_step, 1e-3});
    lo -= pad, hi += pad;
  }
  const double margin = 0.05 * (hi - lo);
  return fixed_axis(lo - margin, hi + margin, max_ticks, min_step);
}

std::string tick_label(const Axis& axis, size_t tick) {
  if (tick < axis.labels.size()) return axis.labels[tick];
  return fmt::format("{:.{}f}", axis.ticks[tick], axis.decimals);
}

void set_color(cairo_t* cr, Rgb c) { cairo_set_source_rgb(cr, c.r, c.g, c.b); }

double text_width(cairo_t* cr, const std::string& text, double size) {
  cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
  cairo_text_extents_t extents;
  cairo_text_extents(cr, text.c_str(), &extents);
  return extents.x_advance;
}

void draw_text(cairo_t* cr, const std::string& text, double x, double y, double size, double ax, double ay,
               double angle) {
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

Canvas::Canvas(int width, int height)
    : width_(width),
      height_(height),
      surface_(cairo_image_surface_create(CAIRO_FORMAT_ARGB32, width, height), cairo_surface_destroy),
      cr_(cairo_create(surface_.get()), cairo_destroy) {
  if (cairo_status(cr()) != CAIRO_STATUS_SUCCESS)
    fail("plot", "cannot create a {}x{} image: {}", width, height, cairo_status_to_string(cairo_status(cr())));
  cairo_set_source_rgb(cr(), 1, 1, 1);
  cairo_paint(cr());
}

Frame Canvas::layout(Axis x, Axis y) const {
  Frame f{0, 0, 0, 0, std::move(x), std::move(y)};
  double y_labels_width = 0;
  for (size_t i = 0; i < f.y.ticks.size(); ++i)
    y_labels_width = std::max(y_labels_width, text_width(cr(), tick_label(f.y, i), kTickFont));
  // Left to right: margin, rotated y title, gap, tick labels, ticks. Top: the title. Bottom: tick labels, x title.
  f.left = std::ceil(kGap + kLabelFont * 1.2 + kGap + y_labels_width + kGap / 2 + kTickLength);
  f.top = std::ceil(kTitleFont * 3);
  f.width = width_ - f.left - 30;
  f.height = height_ - f.top - std::ceil(kTickLength + kGap / 2 + kTickFont * 1.2 + kGap + kLabelFont * 1.2 + kGap);
  return f;
}

// 0.5 offsets keep 1 px lines crisp.
void Canvas::draw_axes(const Frame& f, const AxisTitles& titles) const {
  cairo_t* c = cr();
  set_color(c, kBlack);
  cairo_set_line_width(c, 1);
  cairo_rectangle(c, f.left + 0.5, f.top + 0.5, f.width, f.height);
  const double bottom = f.top + f.height;
  for (double t : f.x.ticks) {
    const double x = std::round(f.px(t)) + 0.5;
    cairo_move_to(c, x, bottom + 0.5);
    cairo_line_to(c, x, bottom + 0.5 + kTickLength);
  }
  for (double t : f.y.ticks) {
    const double y = std::round(f.py(t)) + 0.5;
    cairo_move_to(c, f.left + 0.5, y);
    cairo_line_to(c, f.left + 0.5 - kTickLength, y);
  }
  cairo_stroke(c);
  // Named ticks (categories) can outnumber the room for them: label every k-th so none overlap.
  size_t every = 1;
  if (!f.x.labels.empty() && f.x.ticks.size() > 1) {
    double widest = 0;
    for (size_t i = 0; i < f.x.ticks.size(); ++i) widest = std::max(widest, text_width(c, tick_label(f.x, i), kTickFont));
    const double spacing = std::abs(f.px(f.x.ticks[1]) - f.px(f.x.ticks[0]));
    const double needed = std::ceil((widest + kGap) / std::max(spacing, 1.0));
    for (size_t decade = 1; every < needed; decade *= 10)  // a round stride: 1, 2, 5, 10, 20, 50, ...
      for (size_t m : {1, 2, 5}) every = every < needed ? m * decade : every;
  }
  const double x_labels_top = bottom + kTickLength + kGap / 2;
  for (size_t i = 0; i < f.x.ticks.size(); i += every)
    draw_text(c, tick_label(f.x, i), f.px(f.x.ticks[i]), x_labels_top, kTickFont, 0.5, 0);
  for (size_t i = 0; i < f.y.ticks.size(); ++i)
    draw_text(c, tick_label(f.y, i), f.left - kTickLength - kGap / 2, f.py(f.y.ticks[i]), kTickFont, 1, 0.5);
  draw_text(c, titles.x, f.left + f.width / 2, height_ - kGap, kLabelFont, 0.5, 1);
  draw_text(c, titles.y, kGap, f.top + f.height / 2, kLabelFont, 0.5, 0, -M_PI / 2);
  draw_text(c, titles.title, f.left + f.width / 2, f.top / 2, kTitleFont, 0.5, 0.5);
}

namespace {
cairo_status_t write_png_chunk(void* closure, const unsigned char* data, unsigned int length) {
  auto& out = *static_cast<std::ostream*>(closure);
  out.write(reinterpret_cast<const char*>(data), length);
  return out ? CAIRO_STATUS_SUCCESS : CAIRO_STATUS_WRITE_ERROR;
}
}  // namespace

void Canvas::write_png(const std::string& path) const {
  cairo_surface_flush(surface_.get());
  const auto parent = std::filesystem::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  if (ec) fail("plot", "cannot create folder '{}': {}", parent.string(), ec.message());
  write_file_atomically(path, [&](std::ostream& out) {
    const cairo_status_t status = cairo_surface_write_to_png_stream(surface_.get(), write_png_chunk, &out);
    if (status != CAIRO_STATUS_SUCCESS) fail("plot", "cannot write PNG '{}': {}", path, cairo_status_to_string(status));
  });
}

}  // namespace flotilla::plot
