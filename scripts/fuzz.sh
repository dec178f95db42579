#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz with clang (ASan+UBSan) and runs each for SECONDS
# (default 30) on a fresh corpus that fuzz_make_seeds writes: the committed seeds of
# tests/fuzz/seeds/<harness>/ plus seeds cut from ../shared and the tests' fixtures. One line per harness; exit 1 if any harness found a crash,
# a hang or a memory blow-up (the input is kept under build-fuzz/runs/<harness>/artifacts/).
# Usage: scripts/fuzz.sh [SECONDS] [HARNESS...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
shift || true
build=${FUZZ_BUILD:-build-fuzz}
shared=${FLOTILLA_SHARED_DIR:-$(cd .. && pwd)/shared}

# harness  max_len  dictionary sources (string literals of these files)  dictionary form
targets=(
  "yaml                4096  src/config/*.cpp                 plain"
  "tokenizer           32768 src/tokenizer/*.cpp              json"
  "chat_template       16384 src/chat/*.cpp                   plain"
  "chat_messages       8192  -                                -"
  "jsonl               8192  src/data/formats.cpp             json"
  "model_config        4096  src/model/config.cpp             json"
  "safetensors         16384 src/io/safetensors.cpp           json"
  "safetensors_index   2048  src/io/weight_store.cpp          json"
  "llama2c_checkpoint  4096  -                                -"
  "llama2c_tokenizer   8192  -                                -"
)

started=$(date +%s)
CC=${CC:-clang} CXX=${CXX:-clang++} cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFLOTILLA_FUZZ=ON \
  -DFLOTILLA_BUILD_TESTS=OFF -DFLOTILLA_BUILD_BENCH=OFF -DFLOTILLA_BUILD_EXAMPLES=OFF -DFLOTILLA_SHARED_DIR="$shared" >/dev/null
cmake --build "$build" -j "${JOBS:-$(nproc)}" --target fuzz_harnesses
echo "fuzz: built in $(($(date +%s) - started)) s"

runs="$build/runs"
rm -rf "$runs"
generated="$runs/seeds"
"$build/tests/fuzz/fuzz_make_seeds" "$shared" . "$generated" >/dev/null

# Quoted string literals of the parser's sources: the keys and type names it looks for.
make_dict() {  # form files...
  local form=$1
  shift
  grep -ohE '"[A-Za-z_][A-Za-z0-9_.]{1,40}"' "$@" | sort -u |
    if [ "$form" = json ]; then sed 's/^"\(.*\)"$/"\\"\1\\""/'; else cat; fi
}

failed=0
printf '%-20s %8s %12s %8s %8s %8s  %s\n' harness seconds executions cov ft corpus findings
for target in "${targets[@]}"; do
  read -r name max_len sources form <<<"$target"
  if [ $# -gt 0 ] && [[ " $* " != *" $name "* ]]; then continue; fi
  dir="$runs/$name"
  mkdir -p "$dir/artifacts"
  cp -r "$generated/$name" "$dir/corpus"
  args=(-max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len="$max_len" -print_final_stats=1
        -artifact_prefix="$dir/artifacts/")
  [ -n "${FUZZ_SEED:-}" ] && args+=(-seed="$FUZZ_SEED")  # CI fixes the seed so a run can be repeated
  if [ "$sources" != - ]; then
    # shellcheck disable=SC2086  # the sources are globs
    make_dict "$form" $sources >"$dir/dict"
    args+=(-dict="$dir/dict")
  fi
  status=0
  "$build/tests/fuzz/fuzz_$name" "${args[@]}" "$dir/corpus" \
    >"$dir/log" 2>&1 || status=$?
  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log")
  last=$(grep -E '^#[0-9]+[[:space:]].*cov: ' "$dir/log" | tail -n 1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corpus=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
  findings=$(find "$dir/artifacts" -type f | wc -l)
  note=$findings
  if [ "$status" -ne 0 ] || [ "$findings" -gt 0 ]; then
    failed=1
    note="$findings ($(find "$dir/artifacts" -type f -printf '%f ' | head -c 200); log $dir/log)"
  fi
  printf '%-20s %8s %12s %8s %8s %8s  %s\n' "$name" "$seconds" "${executions:-?}" "${cov:-?}" "${ft:-?}" \
    "${corpus:-?}" "$note"
done
echo "fuzz: done in $(($(date +%s) - started)) s"
exit $failed
