// Test entry point: one intra-op thread so tests running in parallel do not oversubscribe cores.
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include "core/blas_kernels.h"
#include "core/memory.h"

int main(int argc, char** argv) {
  flotilla::use_native_blas_kernels(argv);
  flotilla::keep_freed_memory_for_reuse();
  at::set_num_threads(1);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
