// Debian's arm64 libtorch sends bfloat16 matmuls to oneDNN on CPUs with BF16 instructions (Graviton3,
// Apple M2 and later, Neoverse V1/N2), but its oneDNN, built without Arm Compute Library, has no
// such kernel: every bfloat16 GEMM there throws "could not create a primitive descriptor iterator".
#pragma once

namespace flotilla::tensor {

// Call before bfloat16 work on the CPU (once is enough): when a small bfloat16 matmul fails, turns
// ATen's use of oneDNN off, so ATen's own bfloat16 GEMM runs. Elsewhere it changes nothing.
void ensure_bfloat16_matmul_runs();

}  // namespace flotilla::tensor
