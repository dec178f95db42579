// Sums gradients over ranks while backward is still running, as PyTorch DDP does: parameters are
// packed into buckets of about bucket_bytes in the order backward produces their gradients (last
// layers first), and a bucket's all-reduce starts as soon as its last gradient arrives.
#pragma once
#include <ATen/Tensor.h>

#include <memory>
#include <optional>
#include <vector>

#include "distributed/group.h"
#include "io/tensor_io.h"

namespace flotilla::train {

struct ReducerOptions {
  double bucket_mb = 25;                       // bucket size in MB of wire data
  std::optional<at::ScalarType> wire_dtype;    // default: the parameters' dtype; bfloat16 halves the bytes
  bool overlap = true;                         // false: every bucket is sent after backward
};

class GradientReducer {
 public:
  GradientReducer(distributed::Group& group, io::NamedTensors params, ReducerOptions options);
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // Call before the backward pass that completes this step's gradients, with this rank's loss sum.
  void arm(double local_loss);
  // After it: waits for every bucket, leaves the summed gradients in .grad, returns the summed loss.
  // With the wire in the parameters' dtype each .grad is a view of a bucket, which the next
  // backward's hooks overwrite: reset .grad before it (the trainer does).
  double finish();

  int64_t buckets() const;
  int64_t wire_bytes() const;  // sent per step by this rank (before the transport's own factor)
  at::ScalarType wire_dtype() const;
  // Seconds spent inside the reducer (hooks and finish) since the last call: packing, sending, waiting.
  double take_seconds();

 private:
  struct Bucket;
  void on_gradient(size_t param, const at::Tensor& grad);
  // value (+ plus, when defined) into the parameter's slot; undefined value: zeros.
  void fill_slot(size_t param, const at::Tensor& value, const at::Tensor& plus = {});
  void start_ready_buckets();
  distributed::Group& group_;
  io::NamedTensors params_;
  ReducerOptions options_;
  std::vector<Bucket> buckets_;
  std::vector<std::pair<size_t, int64_t>> slot_;  // per parameter: bucket, offset
  std::vector<unsigned> hooks_;
  std::vector<bool> arrived_;
  size_t next_to_start_ = 0;
  bool armed_ = false;
  double seconds_ = 0;
  at::Tensor loss_;  // float64 whatever the wire dtype
  std::unique_ptr<distributed::PendingSum> loss_sum_;
};

}  // namespace flotilla::train
