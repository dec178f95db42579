// Debian's OpenBLAS 0.3.21 does not recognise recent x86 cores (Sapphire Rapids reads as
// "Prescott") and falls back to SSE3 kernels: 4.5x slower fp32 GEMM. Naming the core in
// OPENBLAS_CORETYPE fixes it, but OpenBLAS reads it when it loads, so the process restarts itself.
#pragma once

namespace flotilla {

// Call first in main(): when OpenBLAS runs generic kernels on a CPU with AVX2/AVX-512 and
// OPENBLAS_CORETYPE is unset, re-executes this program with the matching core type. Otherwise
// (another BLAS, a recognised core, the variable already set) returns and changes nothing.
void use_native_blas_kernels(char** argv);

// OpenBLAS's name for the kernels in use ("SkylakeX", "Haswell", ...), or "" for another BLAS.
const char* blas_core_name();

}  // namespace flotilla
