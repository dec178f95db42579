// Progress for long work: a bar with rate and ETA when the stream is a terminal, otherwise a
// plain line at every tenth of the work, so logs stay readable.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>

#include "core/timer.h"

namespace flotilla {

class Progress {
 public:
  // plain_lines=false: nothing off a terminal (for work that already logs its own lines).
  Progress(std::string label, int64_t total, std::FILE* stream = stderr, bool quiet = false, bool plain_lines = true);
  void advance(int64_t steps = 1);
  void finish();  // ends the bar's line; called by the destructor if needed
  // Erases the bar so another line can be printed; the next advance() redraws it.
  void clear();

  ~Progress() { finish(); }
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

 private:
  void draw();
  std::string label_;
  int64_t total_, done_ = 0, last_decile_ = 0;
  std::FILE* stream_;
  bool quiet_, terminal_, plain_lines_, finished_ = false;
  Timer timer_;
  double last_draw_ = -1;
};

}  // namespace flotilla
