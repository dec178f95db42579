// How the CPU GEMVs (dense and quantized) split a matrix's rows over the OpenMP threads.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

namespace flotilla::kernels::detail {

constexpr int kTokenBlock = 4;              // tokens sharing one pass over a row
constexpr int64_t kRowBlock = 16;           // rows per scheduling unit
constexpr int64_t kParallelWork = 1 << 16;  // fewer multiply-adds than this stay on one thread

// Runs body(first_row, row_count, scratch) over all rows in blocks, on every thread when the
// product is large enough; `scratch_floats` floats of per-thread scratch.
template <typename Body>
void for_row_blocks(int64_t rows, int64_t work, int64_t scratch_floats, const Body& body) {
  const int64_t blocks = (rows + kRowBlock - 1) / kRowBlock;
  const auto block = [&](int64_t b, float* scratch) { body(b * kRowBlock, std::min(kRowBlock, rows - b * kRowBlock), scratch); };
  if (work < kParallelWork) {  // no OpenMP region at all: even a one-thread team costs a set-up
    std::vector<float> scratch(scratch_floats);
    for (int64_t b = 0; b < blocks; ++b) block(b, scratch.data());
    return;
  }
#pragma omp parallel
  {
    std::vector<float> scratch(scratch_floats);
    // Guided: long contiguous runs first (one stream per thread), short ones at the end even out
    // threads that ran slower (2-5% more tokens/s than static halves on a shared VM; dynamic lost 10-30%).
#pragma omp for schedule(guided)
    for (int64_t b = 0; b < blocks; ++b) block(b, scratch.data());
  }
}

}  // namespace flotilla::kernels::detail
