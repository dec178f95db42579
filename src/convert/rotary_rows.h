// The two row orders of a q/k projection's heads. Hugging Face rotates the halves (j, j + D/2) of
// each head; llama2.c and GGUF's "llama" architecture rotate interleaved pairs (2j, 2j + 1).
#pragma once
#include <ATen/ATen.h>

#include <cstdint>

namespace flotilla::convert {

// Rows of a [heads * D, ...] weight or [heads * D] bias, one head after another.
at::Tensor interleaved_to_halves(const at::Tensor& rows, int64_t heads);
at::Tensor halves_to_interleaved(const at::Tensor& rows, int64_t heads);  // llama.cpp's convert_hf_to_gguf permute

}  // namespace flotilla::convert
