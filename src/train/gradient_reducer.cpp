#include "train/gradient_reducer.h"

#include <ATen/ATen.h>

#include <utility>

#include "core/error.h"
#include "core/timer.h"

using namespace flotilla::distributed;
using namespace flotilla::io;

namespace flotilla::train {

struct GradientReducer::Bucket {
  at::Tensor data;             // flat, in the wire dtype
  std::vector<size_t> params;  // indices into params_
  size_t arrived = 0;
  std::unique_ptr<PendingSum> pending;
};

GradientReducer::GradientReducer(Group& group, NamedTensors params, ReducerOptions options)
    : group_(group), params_(std::move(params)), options_(options), slot_(params_.size()) {
  if (!(options_.bucket_mb > 0)) fail("train", "the gradient bucket size must be positive, got {} MB", options_.bucket_mb);
  if (params_.empty()) fail("train", "the gradient reducer was given no parameters");
  const auto wire = options_.wire_dtype.value_or(params_.front().second.scalar_type());
  const double limit = options_.bucket_mb * 1e6 / at::elementSize(wire);
  std::vector<std::vector<size_t>> groups(1);
  int64_t filled = 0;
  // Backward reaches the last layers first: fill buckets from the end of the module order.
  for (size_t i = params_.size(); i-- > 0;) {
    if (filled > 0 && filled + params_[i].second.numel() > limit) {
      groups.emplace_back();
      filled = 0;
    }
    slot_[i] = {groups.size() - 1, filled};
    groups.back().push_back(i);
    filled += params_[i].second.numel();
  }
  buckets_.resize(groups.size());
  for (size_t b = 0; b < groups.size(); ++b) {
    int64_t numel = 0;
    for (size_t i : groups[b]) numel += params_[i].second.numel();
    buckets_[b].data = at::zeros({numel}, at::TensorOptions().dtype(wire));
    buckets_[b].params = std::move(groups[b]);
  }
  for (size_t i = 0; i < params_.size(); ++i)
    hooks_.push_back(params_[i].second.register_hook([this, i](const at::Tensor& grad) { on_gradient(i, grad); }));
}

GradientReducer::~GradientReducer() {
  for (size_t i = 0; i < hooks_.size(); ++i) params_[i].second.remove_hook(hooks_[i]);
}

int64_t GradientReducer::buckets() const { return static_cast<int64_t>(buckets_.size()); }

int64_t GradientReducer::wire_bytes() const {
  int64_t bytes = 0;
  for (const auto& b : buckets_) bytes += b.data.nbytes();
  return bytes;
}

at::ScalarType GradientReducer::wire_dtype() const { return buckets_.front().data.scalar_type(); }

double GradientReducer::take_seconds() { return std::exchange(seconds_, 0.0); }

void GradientReducer::arm(double local_loss) {
  for (auto& b : buckets_) b.arrived = 0;
  arrived_.assign(params_.size(), false);
  next_to_start_ = 0;
  loss_ = at::full({1}, local_loss, at::kDouble);
  loss_sum_ = group_.start_all_sum(loss_);
  armed_ = options_.overlap;
}

// Gradient hook: `grad` is what this backward adds to .grad (earlier micro-batches are already there).
void GradientReducer::on_gradient(size_t param, const at::Tensor& grad) {
  if (!armed_) return;
  Timer timer;
  // A bucket may already be on the wire with this gradient: a second part would be lost.
  if (arrived_[param]) fail("train", "the gradient of '{}' arrived twice in one backward", params_[param].first);
  const auto& p = params_[param].second;
  fill_slot(param, grad, p.grad());
  start_ready_buckets();
  seconds_ += timer.seconds();
}

void GradientReducer::fill_slot(size_t param, const at::Tensor& value, const at::Tensor& plus) {
  const auto [bucket, offset] = slot_[param];
  auto& b = buckets_[bucket];
  auto slice = b.data.narrow(0, offset, params_[param].second.numel());
  if (value.defined() && plus.defined()) at::add_out(slice, value.reshape({-1}), plus.reshape({-1}));  // no temporary
  else if (value.defined()) slice.copy_(value.reshape({-1}));
  else slice.zero_();
  arrived_[param] = true;
  ++b.arrived;
}

// Buckets start strictly in index order, so every rank issues its collectives in the same order.
void GradientReducer::start_ready_buckets() {
  while (next_to_start_ < buckets_.size() && buckets_[next_to_start_].arrived == buckets_[next_to_start_].params.size()) {
    auto& b = buckets_[next_to_start_++];
    b.pending = group_.start_all_sum(b.data);
  }
  for (size_t k = 0; k < next_to_start_; ++k) buckets_[k].pending->done();  // progress in flight
}

double GradientReducer::finish() {
  if (!loss_sum_) fail("train", "GradientReducer::finish without arm");
  Timer timer;
  armed_ = false;
  // Parameters whose gradient did not arrive during backward (overlap off, or unused this step).
  for (size_t i = 0; i < params_.size(); ++i)
    if (!arrived_[i]) fill_slot(i, params_[i].second.grad());
  start_ready_buckets();
  for (auto& b : buckets_) {
    b.pending->wait();
    for (size_t i : b.params) {
      auto& p = params_[i].second;
      auto summed = b.data.narrow(0, slot_[i].second, p.numel()).view(p.sizes());
      // In the parameter's dtype the bucket itself is the gradient: no copy.
      if (summed.scalar_type() == p.scalar_type()) p.mutable_grad() = summed;
      else if (p.grad().defined()) p.mutable_grad().copy_(summed);
      else p.mutable_grad() = summed.to(p.scalar_type());
    }
    b.pending.reset();
  }
  loss_sum_->wait();
  loss_sum_.reset();
  seconds_ += timer.seconds();
  return loss_.item<double>();
}

}  // namespace flotilla::train
