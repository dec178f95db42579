#!/usr/bin/env bash
# Cross-builds the CPU kernels and their raw-buffer tests (tests/kernels/test_{matmul,attention}_kernel*.cpp) for ARM64
# with Debian's aarch64 toolchain and runs them under qemu-aarch64, twice: as a CPU with the int8
# dot product and matrix multiply (qemu's "max") and as a Cortex-A53 without either, so every NEON
# path and the run-time choice between them are exercised. Exits 77 (CTest's skip) when the toolchain or qemu is missing,
# 1 under CI (CI set), where setup installs them.
# Usage: scripts/test_arm64_kernels.sh [build-dir]   (default build/arm64-kernels)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
label="arm64 kernels"
source "$root/scripts/arm64_tools.sh"  # missing(), and the cross compiler and qemu checked
out=${1:-$root/build/arm64-kernels}
cxx=aarch64-linux-gnu-g++
gtest_src=/usr/src/googletest/googletest
[ -d "$gtest_src/src" ] || missing "no GoogleTest sources in $gtest_src (libgtest-dev)"

# Header-only fmt and GoogleTest's headers, without the host's other (x86-64) headers.
mkdir -p "$out/include"
ln -sfn /usr/include/fmt "$out/include/fmt"
ln -sfn /usr/include/gtest "$out/include/gtest"
flags=(-std=c++17 -O3 -fopenmp -DFMT_HEADER_ONLY -isystem "$out/include" -I"$root/src" -I"$root/tests")

start=$(date +%s)
if [ ! -f "$out/gtest.o" ]; then  # GoogleTest itself, built once
  "$cxx" "${flags[@]}" -I"$gtest_src" -c "$gtest_src/src/gtest-all.cc" -o "$out/gtest.o.tmp"
  "$cxx" "${flags[@]}" -c "$gtest_src/src/gtest_main.cc" -o "$out/gtest_main.o"
  mv "$out/gtest.o.tmp" "$out/gtest.o"
fi
sources=("$root"/src/kernels/{cpu_isa,quantized_matmul,quantized_gemv_arm,dense_gemv,attention}.cpp "$root"/tests/kernels/test_{matmul_kernels,attention_kernel}.cpp)
"$cxx" "${flags[@]}" -Wall -Wextra "${sources[@]}" "$out/gtest.o" "$out/gtest_main.o" -pthread -o "$out/test_kernels_arm64"
built=$(date +%s)
echo "arm64 kernels: cross-built in $((built - start)) s"

status=0
for cpu in max cortex-a53; do
  QEMU_CPU=$cpu QEMU_LD_PREFIX=/usr/aarch64-linux-gnu OMP_NUM_THREADS=2 qemu-aarch64 "$out/test_kernels_arm64" --gtest_brief=1 || status=1
  echo "arm64 kernels: qemu-aarch64 -cpu $cpu finished after $(($(date +%s) - built)) s"
done
exit $status
