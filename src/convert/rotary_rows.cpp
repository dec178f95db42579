#include "convert/rotary_rows.h"

#include "core/error.h"

using namespace flotilla::convert;

namespace flotilla::convert {

namespace {

// Views each head's D rows as [2, D/2] (from = halves) or [D/2, 2] (from = pairs) and swaps the two.
at::Tensor swap_head_axes(const at::Tensor& rows, int64_t heads, bool from_halves) {
  const int64_t n = rows.size(0);
  if (heads <= 0 || n % (2 * heads) != 0)
    fail("convert", "q/k rows {} are not {} heads of an even head dim", n, heads);
  auto shape = rows.sizes().vec();
  std::vector<int64_t> split = {heads, from_halves ? 2 : n / heads / 2, from_halves ? n / heads / 2 : 2};
  split.insert(split.end(), shape.begin() + 1, shape.end());
  return rows.reshape(split).transpose(1, 2).reshape(shape).contiguous();
}

}  // namespace

at::Tensor interleaved_to_halves(const at::Tensor& rows, int64_t heads) { return swap_head_axes(rows, heads, false); }

at::Tensor halves_to_interleaved(const at::Tensor& rows, int64_t heads) { return swap_head_axes(rows, heads, true); }

}  // namespace flotilla::convert
