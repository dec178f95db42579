#!/usr/bin/env bash
# Cross-builds the whole CLI for ARM64 against Debian's arm64 libtorch (the folder scripts/arm64_sysroot.sh
# unpacks) and runs it under qemu-aarch64 as two CPUs, "max" (int8 dot product and matrix multiply) and
# cortex-a53 (neither): greedy `generate` on stories260K must give the x86-64 CLI's ids (and, 4-bit in
# float32, MLX's reference ids), `tokenize` the x86-64 ids for three vocabularies' test strings, and ten
# LoRA steps of `train` reach x86-64's validation loss within 1%.
# Exits 77 (CTest's skip) when the toolchain, qemu or the folder is missing; 1 under CI (CI set).
# Usage: scripts/test_arm64_cli.sh x86-cli [build-dir] [sysroot]   (defaults build/arm64-cli, build/arm64-sysroot)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
label="arm64 CLI"
source "$root/scripts/arm64_tools.sh"  # missing(), and the cross compiler and qemu checked
# Absolute paths: the training step changes directory.
x86_cli=$(realpath "${1:?usage: $0 x86-cli [build-dir] [sysroot]}")
out=$(realpath -m "${2:-$root/build/arm64-cli}")
sysroot=$(realpath -m "${3:-$root/build/arm64-sysroot}")
shared=${FLOTILLA_SHARED_DIR:-$root/../shared}
[ -f "$sysroot/.packages" ] || missing "no arm64 libraries in $sysroot; 'make test' (or scripts/arm64_sysroot.sh $sysroot) fetches them"
[ -d "$shared/models/stories260K" ] || missing "no fixtures at $shared"

start=$(date +%s)
# The distributed backend stays out: Open MPI's compiler wrappers on this host are x86-64's.
cmake -S "$root" -B "$out" -DCMAKE_TOOLCHAIN_FILE="$root/cmake/aarch64-linux-gnu.cmake" -DFLOTILLA_ARM64_SYSROOT="$sysroot" \
  -DCMAKE_BUILD_TYPE=Release -DFLOTILLA_WITH_MPI=OFF -DFLOTILLA_BUILD_TESTS=OFF -DFLOTILLA_BUILD_BENCH=OFF \
  -DFLOTILLA_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$out" --target flotilla_cli -j "${JOBS:-$(nproc)}" >"$out/build.log" 2>&1 ||
  { tail -30 "$out/build.log" >&2; echo "arm64 CLI: cross-build failed (log: $out/build.log)" >&2; exit 1; }
built=$(date +%s)
echo "arm64 CLI: cross-built in $((built - start)) s"

log=$out/qemu-stderr.log  # what the emulated runs say on standard error, shown when a check fails
: >"$log"
arm64() { QEMU_CPU=$1 QEMU_LD_PREFIX="$sysroot" OMP_NUM_THREADS=2 qemu-aarch64 "$out/flotilla" "${@:2}" 2>>"$log"; }
generated_ids() { awk '/^==========$/ { n++; next } n == 1'; }  # the line between generate's two rulers
status=0
failed() {
  echo "arm64 CLI: FAILED $1" >&2
  tail -5 "$log" >&2
  status=1
}
compare() {  # label, expected, actual
  if [ -n "$2" ] && [ "$2" = "$3" ]; then echo "arm64 CLI: same as $1"; else
    failed "$1"
    printf 'expected:%s\nactual:  %s\n' "$2" "$3" | cut -c1-400 >&2
  fi
}
cpus=(max cortex-a53)  # with the int8 dot product, matrix multiply and BF16; with none of them

stories=$shared/models/stories260K
golden=$(sed -n 's/.*"greedy_tokens": *\[\([^]]*\)\].*/\1/p' "$stories/mlx-4bit/expected_greedy_bos_60.json" | tr -d ',')
prompt=1,403,407,261,378,432,383,286,261,376  # ten tokens: many-token products (the prompt), then one-token ones
for run in "mlx-4bit float32 1 60" "hf float32 $prompt 100" "hf bfloat16 $prompt 100"; do
  read -r model dtype prompt_ids tokens <<<"$run"
  args=(generate --model "$stories/$model" --dtype "$dtype" --prompt-ids "$prompt_ids" --max-tokens "$tokens" --temp 0)
  x86_ids=$("$x86_cli" "${args[@]}" 2>/dev/null | generated_ids) || true
  for cpu in "${cpus[@]}"; do
    ids=$(arm64 "$cpu" "${args[@]}" | generated_ids) || true
    compare "x86-64 ($cpu: generate $model $dtype, $tokens tokens)" "$x86_ids" "$ids"
    if [ "$prompt_ids" = 1 ]; then compare "MLX's reference ids ($cpu: generate $model $dtype)" " $golden" "$ids"; fi
  done
done

# 4-bit in bfloat16, as the tutorial runs: with the dot product, activations round to int8 and the ids become
# the ISA's own, so the int16 NEON path is what a CPU with BF16 instructions (max) and one without must agree on.
args=(generate --model "$stories/mlx-4bit" --prompt-ids "$prompt" --max-tokens 60 --temp 0)
for cpu in "${cpus[@]}"; do
  if [ -n "$(arm64 "$cpu" "${args[@]}" | generated_ids)" ]; then echo "arm64 CLI: ids from $cpu's own path (generate mlx-4bit bfloat16)"
  else failed "generate mlx-4bit bfloat16 on $cpu's own path"; fi
done
compare "cortex-a53 (max: generate mlx-4bit bfloat16, NEON int16 path)" \
  "$(FLOTILLA_KERNEL_ISA=neon arm64 cortex-a53 "${args[@]}" | generated_ids)" "$(FLOTILLA_KERNEL_ISA=neon arm64 max "${args[@]}" | generated_ids)"

vectors=$shared/tokenizers/vectors/llamacpp
for pair in "tinyllama-1.1b-chat-v1.0 llama-spm" "llama-3.2 llama-bpe" "qwen2.5-0.5b-instruct qwen2"; do
  read -r tokenizer vocab <<<"$pair"
  args=(tokenize --model "$shared/tokenizers/$tokenizer" -f "$vectors/ggml-vocab-$vocab.gguf.inp")
  x86_ids=$("$x86_cli" "${args[@]}") || true
  for cpu in "${cpus[@]}"; do compare "x86-64 ($cpu: tokenize $vocab strings)" "$x86_ids" "$(arm64 "$cpu" "${args[@]}")"; done
done

# Ten LoRA steps in float32 on max (forward, backward, optimizer, checkpoints, the loss plot) on data the x86-64
# CLI prepares: the validation loss within 1% of x86-64's (sums run in another order, so the bits differ).
work=$out/train
rm -rf "$work" && mkdir -p "$work" && cd "$work"
"$x86_cli" convert --checkpoint "$stories/llama2c/stories260K.bin" --tokenizer "$stories/llama2c/tok512.bin" --out model >/dev/null
"$x86_cli" pirate data --model model --out raw.jsonl --count 60 --max-tokens 60 >/dev/null 2>&1
"$x86_cli" prepare raw.jsonl --out data --valid-fraction 0.1 --model model --max-seq-length 512 >/dev/null
train=(train --model model --train --data data --iters 10 --batch-size 4 --num-layers -1 --learning-rate 1e-3
       --steps-per-report 5 --steps-per-eval 10 --val-batches 2 --threads 1)
last_val_loss() { sed -n 's/^Iter 10: Val loss \([0-9.]*\),.*/\1/p'; }
x86_loss=$("$x86_cli" "${train[@]}" --adapter-path x86 | last_val_loss)
arm64_loss=$(arm64 max "${train[@]}" --adapter-path arm64 | last_val_loss) || true
if awk -v a="$x86_loss" -v b="$arm64_loss" 'BEGIN { exit !(a > 0 && b > 0 && (a - b) ^ 2 < (0.01 * a) ^ 2) }'; then
  echo "arm64 CLI: train (max, 10 steps): validation loss $arm64_loss, x86-64 $x86_loss"
else
  failed "train (max, 10 steps): validation loss '$arm64_loss', x86-64 '$x86_loss'"
fi
echo "arm64 CLI: qemu-aarch64 runs finished after $(($(date +%s) - built)) s"
exit $status
