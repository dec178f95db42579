// Peak resident memory of this process (what mlx-lm reports as "Peak memory"), and how freed
// memory is kept for reuse.
#pragma once

namespace flotilla {

double peak_memory_gb();

// Tensors of a training step are freed and allocated again at the same sizes every step. glibc
// would hand that memory back to the kernel and fault it in anew (zeroed) each time; keep it.
void keep_freed_memory_for_reuse();

}  // namespace flotilla
