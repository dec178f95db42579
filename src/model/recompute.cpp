#include "model/recompute.h"

#include <ATen/ATen.h>
#include <ATen/core/ivalue.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

namespace flotilla::model {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct Replay : torch::CustomClassHolder {
  TensorFunction fn;
  at::Tensor rng_state;
};

at::Tensor read_rng_state(at::Device device) {
  auto generator = at::globalContext().defaultGenerator(device);
  std::lock_guard<std::mutex> lock(generator.mutex());
  return generator.get_state();
}

void write_rng_state(at::Device device, const at::Tensor& state) {
  auto generator = at::globalContext().defaultGenerator(device);
  std::lock_guard<std::mutex> lock(generator.mutex());
  generator.set_state(state);
}

// Inputs: x, and an empty tensor that requires grad so the node exists even when x does not
// (the block's parameters are invisible to autograd from outside).
class Recompute : public torch::autograd::Function<Recompute> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& /*anchor*/,
                            c10::intrusive_ptr<Replay> replay) {
    replay->rng_state = read_rng_state(x.device());
    ctx->save_for_backward({x});
    ctx->saved_data["replay"] = at::IValue::make_capsule(replay);
    return replay->fn(x);  // Function::apply runs this without recording a graph
  }

  static variable_list backward(AutogradContext* ctx, variable_list output_grads) {
    auto replay = c10::static_intrusive_pointer_cast<Replay>(ctx->saved_data["replay"].toCapsule());
    const bool want_x = ctx->needs_input_grad(0);
    auto x = ctx->get_saved_variables()[0].detach().requires_grad_(want_x);
    const auto later_state = read_rng_state(x.device());
    write_rng_state(x.device(), replay->rng_state);
    at::Tensor y;
    {
      at::AutoGradMode recording(true);
      y = replay->fn(x);
    }
    write_rng_state(x.device(), later_state);
    if (y.requires_grad()) torch::autograd::backward({y}, {output_grads[0]});
    return {want_x ? x.grad() : at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor recompute_in_backward(TensorFunction fn, const at::Tensor& x) {
  if (!at::GradMode::is_enabled()) return fn(x);
  static const at::Tensor anchor = at::empty({0}).requires_grad_(true);
  auto replay = c10::make_intrusive<Replay>();
  replay->fn = std::move(fn);
  return Recompute::apply(x, anchor, replay);
}

}  // namespace flotilla::model
