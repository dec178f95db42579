#!/usr/bin/env bash
# Installs the packages Flotilla builds and tests with, only those missing: Debian's on Linux,
# Homebrew's on macOS (untested here: no Mac in this project's CI; see the README's Platforms).
set -euo pipefail

if [ "$(uname -s)" = Darwin ]; then
  command -v brew >/dev/null || { echo "setup: macOS needs Homebrew (https://brew.sh)" >&2; exit 1; }
  formulae=(cmake pkg-config ccache libomp pytorch open-mpi nlohmann-json cli11 fmt pcre2 sentencepiece cairo
            googletest yaml-cpp utf8proc)
  missing=()
  for f in "${formulae[@]}"; do brew list --formula "$f" >/dev/null 2>&1 || missing+=("$f"); done
  [ ${#missing[@]} -eq 0 ] || brew install "${missing[@]}"
  exit 0  # CMakeLists.txt finds libtorch inside the pytorch formula and OpenMP in libomp
fi

packages=(
  build-essential cmake pkg-config ccache
  libtorch-dev libopenblas0-openmp      # libtorch; OpenBLAS replaces the reference BLAS (~27x faster GEMM)
  libopenmpi-dev openmpi-bin
  iproute2                              # ip and tc: the two-host test's network namespaces (scripts/two_hosts.sh)
  nlohmann-json3-dev libcli11-dev libfmt-dev libpcre2-dev libsentencepiece-dev
  libutf8proc-dev                       # Unicode normalization (NFC) and character properties
  libyaml-cpp-dev                       # YAML config files (--config)
  libgtest-dev libcairo2-dev
  clang libclang-rt-dev                 # libFuzzer and the sanitizers for make fuzz (tests/fuzz)
  g++-aarch64-linux-gnu qemu-user       # the ARM64 kernels cross-built and tested under emulation
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# llama.cpp, the speed reference beside bench_mission (never linked into Flotilla): optional, so a
# machine without npm or its registry still builds and tests; the script says what went wrong.
"$(dirname "$0")/setup_llama_peer.sh" >/dev/null ||
  echo "setup: llama.cpp peer not installed; bench_mission runs without its llama.cpp column" >&2
