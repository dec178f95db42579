#include "kernels/cpu_isa.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string>

#include "core/error.h"

namespace flotilla::kernels {

namespace {

Isa detect() {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")) {
    return __builtin_cpu_supports("avx512vnni") ? Isa::avx512_vnni : Isa::avx512;
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::avx2;
#endif
  return Isa::portable;
}

Isa from_environment(Isa cpu) {
  const char* value = std::getenv("FLOTILLA_KERNEL_ISA");
  if (!value || !*value) return cpu;
  const std::string name = value;
  Isa cap;
  if (name == "portable") cap = Isa::portable;
  else if (name == "avx2") cap = Isa::avx2;
  else if (name == "avx512") cap = Isa::avx512_vnni;
  else fail("kernels", "FLOTILLA_KERNEL_ISA is '{}'; expected portable, avx2 or avx512", name);
  return std::min(cap, cpu);
}

std::atomic<Isa>& active() {
  static std::atomic<Isa> isa{from_environment(cpu_isa())};
  return isa;
}

}  // namespace

Isa cpu_isa() {
  static const Isa isa = detect();
  return isa;
}

Isa active_isa() { return active().load(std::memory_order_relaxed); }

Isa set_active_isa(Isa isa) { return active().exchange(std::min(isa, cpu_isa())); }

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::portable: return "portable";
    case Isa::avx2: return "avx2";
    case Isa::avx512: return "avx512";
    case Isa::avx512_vnni: return "avx512-vnni";
  }
  return "?";
}

}  // namespace flotilla::kernels
