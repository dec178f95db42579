#include "kernels/cpu_isa.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string>
#include <utility>

#include "core/error.h"

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif
#if defined(__aarch64__) && defined(__APPLE__)
#include <sys/sysctl.h>
#endif

namespace flotilla::kernels {

namespace {

Isa detect() {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")) {
    return __builtin_cpu_supports("avx512vnni") ? Isa::avx512_vnni : Isa::avx512;
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::avx2;
#elif defined(__aarch64__)
  // NEON is part of ARMv8-A; the int8 dot product (FEAT_DotProd) and matrix multiply (FEAT_I8MM) are optional.
#if defined(__linux__)
  const bool dotprod = getauxval(AT_HWCAP) & (1ul << 20);  // HWCAP_ASIMDDP
  const bool i8mm = getauxval(AT_HWCAP2) & (1ul << 13);    // HWCAP2_I8MM
#elif defined(__APPLE__)
  auto feature = [](const char* name) {
    int present = 0;
    size_t size = sizeof present;
    return sysctlbyname(name, &present, &size, nullptr, 0) == 0 && present;
  };
  const bool dotprod = feature("hw.optional.arm.FEAT_DotProd"), i8mm = feature("hw.optional.arm.FEAT_I8MM");
#else
  const bool dotprod = false, i8mm = false;
#endif
  if (dotprod) return i8mm ? Isa::neon_i8mm : Isa::neon_dotprod;
  return Isa::neon;
#endif
  return Isa::portable;
}

// FLOTILLA_KERNEL_ISA's names on this architecture, lowest path first.
#if defined(__aarch64__)
constexpr std::pair<const char*, Isa> kNames[] = {
    {"portable", Isa::portable}, {"neon", Isa::neon}, {"dotprod", Isa::neon_dotprod}, {"i8mm", Isa::neon_i8mm}};
#else
constexpr std::pair<const char*, Isa> kNames[] = {{"portable", Isa::portable}, {"avx2", Isa::avx2}, {"avx512", Isa::avx512_vnni}};
#endif

Isa from_environment(Isa cpu) {
  const char* value = std::getenv("FLOTILLA_KERNEL_ISA");
  if (!value || !*value) return cpu;
  const std::string name = value;
  std::string expected;
  for (const auto& [known, cap] : kNames) {
    if (name == known) return std::min(cap, cpu);
    expected += (expected.empty() ? "" : ", ") + std::string(known);
  }
  fail("kernels", "FLOTILLA_KERNEL_ISA is '{}'; expected one of {} on this CPU", name, expected);
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
    case Isa::neon: return "neon";
    case Isa::neon_dotprod: return "neon-dotprod";
    case Isa::neon_i8mm: return "neon-i8mm";
  }
  return "?";
}

}  // namespace flotilla::kernels
