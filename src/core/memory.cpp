#include "core/memory.h"

#include <sys/resource.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace flotilla {

double peak_memory_gb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) * 1024.0 / 1e9;  // ru_maxrss is in KiB on Linux
}

void keep_freed_memory_for_reuse() {
#ifdef __GLIBC__
  mallopt(M_MMAP_THRESHOLD, 32 << 20);    // blocks up to 32 MB (glibc's maximum) come from the heap
  mallopt(M_TRIM_THRESHOLD, 1 << 30);     // and freed heap memory stays with the process
  mallopt(M_TOP_PAD, 64 << 20);           // grow the heap in 64 MB steps, not page by page
#endif
}

}  // namespace flotilla
