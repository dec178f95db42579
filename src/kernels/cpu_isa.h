// Which instruction set the CPU kernels run: chosen once from the CPU's features, capped by the
// environment variable FLOTILLA_KERNEL_ISA (portable | avx2 | avx512) so tests cover every path.
#pragma once

namespace flotilla::kernels {

enum class Isa { portable = 0, avx2 = 1, avx512 = 2, avx512_vnni = 3 };

// The best path this CPU supports, never above FLOTILLA_KERNEL_ISA when that is set.
Isa active_isa();
// The best path the CPU itself supports, ignoring the variable.
Isa cpu_isa();
const char* isa_name(Isa isa);

// For tests: runs the kernels at `isa` (capped at cpu_isa()); returns what was active before.
Isa set_active_isa(Isa isa);

}  // namespace flotilla::kernels
