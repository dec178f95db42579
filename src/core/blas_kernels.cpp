#include "core/blas_kernels.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <initializer_list>

namespace flotilla {

namespace {

// The core type whose kernels this CPU can run, best first; nullptr off x86 or without AVX2.
const char* native_core_type() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq"))
    return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
  return nullptr;
}

bool generic_kernels(const char* core) {
  for (const char* old : {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Katmai", "Coppermine",
                          "Northwood", "Banias", "Unknown"})
    if (std::strcmp(core, old) == 0) return true;
  return false;
}

}  // namespace

const char* blas_core_name() {
  using CoreName = char* (*)();
  auto get = reinterpret_cast<CoreName>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  return get ? get() : "";
}

void use_native_blas_kernels(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE")) return;  // the user's choice, or our own restart
  const char* native = native_core_type();
  if (!native || !generic_kernels(blas_core_name())) return;
  setenv("OPENBLAS_CORETYPE", native, 1);
  execv("/proc/self/exe", argv);  // returns only on failure: then run on as we are
}

}  // namespace flotilla
