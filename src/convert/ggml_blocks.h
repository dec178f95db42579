// float32 values in ggml's storage types, bit for bit as ggml's reference quantizers write them
// (ggml-quants.c quantize_row_q8_0_ref / quantize_row_q4_0_ref; F16 and BF16 round to nearest even).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "convert/gguf_writer.h"

namespace flotilla::convert {

// Appends one row of n values; for Q8_0 and Q4_0 n must be a whole number of 32-value blocks.
// Q8_0 block: fp16 d = max|x| / 127, then 32 int8 round(x / d).
// Q4_0 block: fp16 d = (the value of largest magnitude) / -8, then 16 bytes: byte j holds
// q[j] in its low nibble and q[j + 16] in its high nibble, q = min(15, trunc(x / d + 8.5)).
void append_ggml_row(GgmlType type, const float* values, size_t n, std::vector<uint8_t>& out);

// The values a row decodes to (ggml's dequantize_row_*), for tests and error bounds.
std::vector<float> decode_ggml_row(GgmlType type, const uint8_t* bytes, size_t n);

}  // namespace flotilla::convert
