#include "core/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>

namespace flotilla {

Progress::Progress(std::string label, int64_t total, std::FILE* stream, bool quiet, bool plain_lines)
    : label_(std::move(label)),
      total_(std::max<int64_t>(total, 1)),
      stream_(stream),
      quiet_(quiet),
      terminal_(::isatty(::fileno(stream)) != 0),
      plain_lines_(plain_lines) {}

void Progress::advance(int64_t steps) {
  done_ = std::min(total_, done_ + steps);
  if (quiet_) return;
  if (terminal_) {
    // Redraw at most 10 times a second and always on completion.
    const double now = timer_.seconds();
    if (now - last_draw_ >= 0.1 || done_ == total_) draw();
    return;
  }
  if (!plain_lines_) return;
  const int64_t decile = done_ * 10 / total_;
  if (decile > last_decile_) {
    last_decile_ = decile;
    fmt::print(stream_, "{}: {}/{} ({:.0f}%)\n", label_, done_, total_, 100.0 * done_ / total_);
    std::fflush(stream_);
  }
}

void Progress::draw() {
  last_draw_ = timer_.seconds();
  const double rate = done_ / std::max(1e-9, last_draw_);
  const double eta = rate > 0 ? (total_ - done_) / rate : 0;
  const int width = 30, filled = static_cast<int>(width * done_ / total_);
  fmt::print(stream_, "\r{} [{}{}] {}/{} {:.1f}/s ETA {:.0f}s ", label_, std::string(filled, '#'),
             std::string(width - filled, '.'), done_, total_, rate, eta);
  std::fflush(stream_);
}

void Progress::clear() {
  if (!terminal_ || quiet_ || last_draw_ < 0) return;
  fmt::print(stream_, "\r\033[K");
  std::fflush(stream_);
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (terminal_ && !quiet_ && done_ > 0) fmt::print(stream_, "\n");
}

}  // namespace flotilla
