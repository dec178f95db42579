#!/usr/bin/env bash
# Unpacks Debian's arm64 builds of the CLI's libraries (libtorch and the rest) into a folder, for
# cross-building the whole CLI (scripts/test_arm64_cli.sh): a private apt state fetches them from
# the host's Debian sources, nothing is installed and the host's dpkg is not touched.
# Usage: scripts/arm64_sysroot.sh [dir]   (default build/arm64-sysroot; ~215 MB fetched, ~0.9 GB unpacked)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/build/arm64-sysroot}
packages=(libtorch-dev libopenblas0-openmp nlohmann-json3-dev libcli11-dev libfmt-dev libpcre2-dev
          libutf8proc-dev libyaml-cpp-dev libcairo2-dev)
stamp="$out/.packages"
want="${packages[*]} $(sha256sum "$0" | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi

command -v apt-get >/dev/null || { echo "arm64 sysroot: needs apt-get (Debian)" >&2; exit 1; }
state="$out.apt"
rm -rf "$out" "$out.tmp" "$state"
mkdir -p "$state"/etc/apt/{sources.list.d,preferences.d,apt.conf.d} "$state"/var/lib/apt/lists/partial \
         "$state"/var/cache/apt/archives/partial "$state"/var/lib/dpkg
touch "$state/var/lib/dpkg/status"  # nothing counts as installed: every dependency is fetched
cp /etc/apt/sources.list.d/*.sources "$state/etc/apt/sources.list.d/" 2>/dev/null || true
[ -f /etc/apt/sources.list ] && cp /etc/apt/sources.list "$state/etc/apt/"
apt=(apt-get -qq -o "Dir=$state" -o Dir::Etc::Trusted=/etc/apt/trusted.gpg -o Dir::Etc::TrustedParts=/etc/apt/trusted.gpg.d
     -o APT::Architecture=arm64 -o APT::Architectures=arm64 -o Debug::NoLocking=1 -o "APT::Sandbox::User=$(id -un)")
start=$(date +%s)
"${apt[@]}" update || { echo "arm64 sysroot: apt-get update of the arm64 package lists failed" >&2; exit 1; }
"${apt[@]}" install --download-only -y --no-install-recommends "${packages[@]}" ||
  { echo "arm64 sysroot: could not fetch ${packages[*]} for arm64 from the host's apt sources" >&2; exit 1; }

mkdir -p "$out.tmp"
find "$state/var/cache/apt/archives" -name '*.deb' -print0 |
  xargs -0 -P "$(nproc)" -I{} sh -c 'dpkg-deb --fsys-tarfile "$1" | tar -x -C "$2" --exclude=./usr/share/doc \
    --exclude=./usr/share/man --exclude=./usr/share/locale' _ {} "$out.tmp"
# What update-alternatives would link: OpenBLAS (OpenMP build) as BLAS and LAPACK, as on the host.
libdir="$out.tmp/usr/lib/aarch64-linux-gnu"
for lib in libblas.so.3 liblapack.so.3 libopenblas.so.0; do ln -sfn "openblas-openmp/$lib" "$libdir/$lib"; done
mv "$out.tmp" "$out"
rm -rf "$state"
echo "$want" >"$stamp"
echo "arm64 sysroot: $(du -sh "$out" | cut -f1) in $out after $(($(date +%s) - start)) s"
