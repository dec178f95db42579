// Causal attention on the CPU without the T×S score matrix: each (batch, key/value head) pair
// is one unit of work, its query rows handled a few at a time against transposed keys and values
// held in cache. Raw loops over row views; autograd lives in model/fused_attention.
#pragma once
#include <cstdint>

namespace flotilla::kernels::attention {

// Rows addressed by (batch, head, position); the elements of a row are contiguous.
template <typename T>
struct Rows {
  T* data = nullptr;
  int64_t batch_stride = 0, head_stride = 0, position_stride = 0;
  T* row(int64_t b, int64_t h, int64_t p) const { return data + b * batch_stride + h * head_stride + p * position_stride; }
};

// Query t of T sits at absolute position S - T + t and sees keys 0..S-T+t, or with a window W only
// the last W of them (itself included). Query head h uses key/value head h / (H / KV).
struct Shape {
  int64_t batch, heads, kv_heads, queries, keys, dim;  // B, H, KV, T, S, D
  double scale;                                        // usually 1/√D
  int64_t window = 0;                                  // 0: every earlier key
};

template <typename T>
struct Forward {
  Shape shape;
  Rows<const T> q, k, v;
  Rows<T> out;       // [B, H, T] rows of D
  T* logsumexp;      // [B, H, T], kept for backward
};

template <typename T>
struct Backward {
  Shape shape;
  Rows<const T> q, k, v, out, grad_out;
  const T* logsumexp;
  Rows<T> grad_q, grad_k, grad_v;  // grad_k/grad_v are written whole, grad_q too
};

// Both run their units in parallel (OpenMP). float and double only.
template <typename T>
void run_forward(const Forward<T>& problem);
template <typename T>
void run_backward(const Backward<T>& problem);

}  // namespace flotilla::kernels::attention
