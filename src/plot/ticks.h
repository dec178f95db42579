// Axis tick positions, shared by every chart.
#pragma once
#include <vector>

namespace flotilla::plot {

// At most max_ticks values in [lo, hi], at multiples of a step of 1, 2 or 5 x 10^k that is at least min_step.
std::vector<double> nice_ticks(double lo, double hi, int max_ticks, double min_step = 0);

}  // namespace flotilla::plot
