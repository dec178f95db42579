# Sourced by the ARM64 emulation tests (scripts/test_arm64_*.sh); $label names the test in messages.
# What a test needs but lacks: exit 77 (CTest's skip), or 1 under CI (CI set), where setup installs it.
missing() {
  echo "$label: $1" >&2
  [ -n "${CI:-}" ] && exit 1
  exit 77
}
for tool in aarch64-linux-gnu-g++ qemu-aarch64; do
  command -v "$tool" >/dev/null || missing "'$tool' not found; scripts/setup.sh installs g++-aarch64-linux-gnu and qemu-user"
done
