// Which instruction set the CPU kernels run: chosen once from the CPU's features, capped by the
// environment variable FLOTILLA_KERNEL_ISA (portable | avx2 | avx512 on x86-64, portable | neon |
// dotprod | i8mm on ARM64) so tests cover every path.
#pragma once

namespace flotilla::kernels {

// Ordered within each architecture: x86-64 up to avx512_vnni, ARM64 neon, neon_dotprod, then
// neon_i8mm (the dot product and the int8 matrix multiply).
enum class Isa { portable = 0, avx2 = 1, avx512 = 2, avx512_vnni = 3, neon = 4, neon_dotprod = 5, neon_i8mm = 6 };

// The best path this CPU supports, never above FLOTILLA_KERNEL_ISA when that is set.
Isa active_isa();
// The best path the CPU itself supports, ignoring the variable.
Isa cpu_isa();
const char* isa_name(Isa isa);

// For tests: runs the kernels at `isa` (capped at cpu_isa()); returns what was active before.
Isa set_active_isa(Isa isa);

}  // namespace flotilla::kernels
