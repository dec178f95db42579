// Peak resident memory of this process (what mlx-lm reports as "Peak memory").
#pragma once

namespace flotilla {

double peak_memory_gb();

}  // namespace flotilla
