// Drawing primitives shared by the charts: a white cairo image written atomically as PNG, matplotlib's default
// colours and fonts, axes with nice ticks, and text anchored by its box.
#pragma once
#include <cairo.h>

#include <memory>
#include <string>
#include <vector>

#include "plot/ticks.h"

namespace flotilla::plot {

struct Rgb {
  double r, g, b;
};
// matplotlib's "tab10" cycle: C0 blue, C1 orange.
inline constexpr Rgb kBlack{0, 0, 0}, kBlue{0x1f / 255.0, 0x77 / 255.0, 0xb4 / 255.0},
    kOrange{0xff / 255.0, 0x7f / 255.0, 0x0e / 255.0};

inline constexpr double kTickFont = 14, kLabelFont = 15, kTitleFont = 18, kLegendFont = 14;
inline constexpr double kTickLength = 5, kGap = 8;

struct Axis {
  double lo, hi;
  std::vector<double> ticks;
  int decimals;                     // the fewest that print every tick exactly
  std::vector<std::string> labels;  // one per tick for categorical axes; empty: the tick values
};

// Ticks in [lo, hi] exactly (no margins), e.g. a y axis that starts at 0.
Axis fixed_axis(double lo, double hi, int max_ticks, double min_step = 0);
// matplotlib's 5% margins around the data; an empty or flat range is widened first so the axis has extent.
Axis make_axis(double lo, double hi, int max_ticks, double min_step = 0);
std::string tick_label(const Axis& axis, size_t tick);

// The plotting area in pixels and the data ranges mapped onto it.
struct Frame {
  double left, top, width, height;
  Axis x, y;
  double px(double v) const { return left + (v - x.lo) / (x.hi - x.lo) * width; }
  double py(double v) const { return top + height - (v - y.lo) / (y.hi - y.lo) * height; }
};

struct AxisTitles {
  std::string x, y, title;
};

// A white width x height ARGB image with a cairo context on it.
class Canvas {
 public:
  Canvas(int width, int height);
  cairo_t* cr() const { return cr_.get(); }
  int width() const { return width_; }
  int height() const { return height_; }
  // Room for the title, the rotated y title, y tick labels, x tick labels and the x title around the frame.
  Frame layout(Axis x, Axis y) const;
  // Spines, outward ticks with labels, axis titles and the chart title.
  void draw_axes(const Frame& f, const AxisTitles& titles) const;
  // Creates parent folders and writes the PNG atomically.
  void write_png(const std::string& path) const;

 private:
  int width_, height_;
  std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)> surface_;
  std::unique_ptr<cairo_t, decltype(&cairo_destroy)> cr_;
};

void set_color(cairo_t* cr, Rgb c);
double text_width(cairo_t* cr, const std::string& text, double size);
// Draws text anchored at (x, y): ax/ay are 0 (left/top), 0.5 (centre) or 1 (right/bottom) of its box.
void draw_text(cairo_t* cr, const std::string& text, double x, double y, double size, double ax, double ay,
               double angle = 0);

}  // namespace flotilla::plot
