#include "core/memory.h"

#include <sys/resource.h>

namespace flotilla {

double peak_memory_gb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) * 1024.0 / 1e9;  // ru_maxrss is in KiB on Linux
}

}  // namespace flotilla
