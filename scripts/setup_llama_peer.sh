#!/usr/bin/env bash
# Installs llama.cpp as a speed reference for bench/llama_peer (never a dependency of Flotilla):
# its prebuilt CPU libraries from npm's @node-llama-cpp/linux-x64 and the matching headers from the
# llama.cpp source bundle inside node-llama-cpp, into build/llama-peer/ (gitignored). A no-op when
# already installed. Prints the folder holding libllama.so and libggml*.so.
# Download: two tarballs, 46.5 MB (10.8 MB libraries + 35.7 MB node-llama-cpp); 66 MB on disk.
set -euo pipefail

# node-llama-cpp 3.22.1 ships llama.cpp release v0.5.0 (llama/llama.cpp.info.json, the libraries'
# _nlcBuildMetadata.json and LLAMA_VERSION in the bundle's CMakeLists.txt all say so).
version=3.22.1
llama_release=v0.5.0
sha256_libs=0d953e1503d5ab4608d8ed5b739132308c81ac05ffeb760d2a7f30e08a9f90e0
sha256_source=a0d9dd80eacd2ab1cfe71aee57ac8a806487fd70b3d2a38fbec637752d9e5c5f

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
peer=${FLOTILLA_LLAMA_PEER_DIR:-$root/build/llama-peer}
stamp=$peer/installed-$version
if [ -f "$stamp" ]; then
  echo "$peer/lib"
  exit 0
fi

die() { echo "setup_llama_peer: $*" >&2; exit 1; }
command -v npm >/dev/null || die "npm not found; it downloads llama.cpp's prebuilt libraries (sudo apt-get install npm)"
for tool in git tar sha256sum node; do command -v "$tool" >/dev/null || die "$tool not found"; done

work=$peer/partial
rm -rf "$work" "$peer/npm" "$peer/include" "$peer/lib" "$peer"/installed-*
mkdir -p "$work"
echo "setup_llama_peer: downloading @node-llama-cpp/linux-x64@$version and node-llama-cpp@$version (46.5 MB)" >&2
(cd "$work" && npm pack --silent "@node-llama-cpp/linux-x64@$version" "node-llama-cpp@$version" >/dev/null) ||
  die "npm pack failed (is the npm registry reachable?)"

check_sha256() {
  local actual
  actual=$(sha256sum "$1" | cut -d' ' -f1)
  [ "$actual" = "$2" ] || die "$(basename "$1") has sha256 $actual, expected $2"
}
check_sha256 "$work/node-llama-cpp-linux-x64-$version.tgz" "$sha256_libs"
check_sha256 "$work/node-llama-cpp-$version.tgz" "$sha256_source"

# Only the libraries, and from node-llama-cpp only the llama.cpp source bundle and its release tag.
mkdir -p "$work/npm/linux-x64" "$work/npm/node-llama-cpp"
tar -xzf "$work/node-llama-cpp-linux-x64-$version.tgz" -C "$work/npm/linux-x64" --strip-components=1
tar -xzf "$work/node-llama-cpp-$version.tgz" -C "$work/npm/node-llama-cpp" --strip-components=1 \
  package/package.json package/llama/gitRelease.bundle package/llama/llama.cpp.info.json

libs=$work/npm/linux-x64/bins/linux-x64
release_of() { node -e "const j = require(process.argv[1]); console.log($2)" "$1"; }
built_from=$(release_of "$libs/_nlcBuildMetadata.json" 'j.buildOptions.llamaCpp.release')
bundled=$(release_of "$work/npm/node-llama-cpp/llama/llama.cpp.info.json" 'j.tag')
[ "$built_from" = "$llama_release" ] && [ "$bundled" = "$llama_release" ] ||
  die "libraries built from llama.cpp $built_from, headers from $bundled; expected both $llama_release"
[ -f "$libs/libllama.${llama_release}.so" ] || die "no libllama.${llama_release}.so in $libs"
ln -s "libllama.${llama_release}.so" "$libs/libllama.so"
ln -s "libggml.${llama_release}.so" "$libs/libggml.so"

# The headers of the same release: include/llama*.h and ggml/include/*.h, side by side.
git clone --quiet --bare "$work/npm/node-llama-cpp/llama/gitRelease.bundle" "$work/llama.cpp.git"
mkdir -p "$work/include"
git --git-dir="$work/llama.cpp.git" archive HEAD include ggml/include | tar -x -C "$work/include"
mv "$work/include/include"/*.h "$work/include/ggml/include"/*.h "$work/include/"
rmdir "$work/include/include" "$work/include/ggml/include" "$work/include/ggml"
source_version=v$(git --git-dir="$work/llama.cpp.git" show HEAD:CMakeLists.txt |
  sed -n 's/^set(LLAMA_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\))$/\2/p' | paste -sd.)
[ "$source_version" = "$llama_release" ] || die "the bundle holds llama.cpp $source_version, expected $llama_release"
commit=$(git --git-dir="$work/llama.cpp.git" rev-parse HEAD)

mv "$work/npm" "$peer/npm"
mv "$work/include" "$peer/include"
ln -s "npm/linux-x64/bins/linux-x64" "$peer/lib"
rm -rf "$work"
echo "node-llama-cpp $version: llama.cpp $llama_release (source commit $commit)" >"$stamp"
echo "$peer/lib"
