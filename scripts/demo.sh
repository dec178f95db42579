#!/usr/bin/env bash
# The main job: the tutorial's pirate walkthrough on the shipped stories260K model.
# convert -> base story -> pirate dataset -> prepare -> LoRA on 1 and on 2 MPI ranks -> loss plot
# -> pirate prompt before and after the adapter, with pirate-ness scores.
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${FLOTILLA_SHARED:-$root/../shared}
flotilla="$build/flotilla"
out=${FLOTILLA_DEMO_OUT:-out/demo}
rm -rf "$out" && mkdir -p "$out"
mpirun=(mpirun -np 2 --oversubscribe --bind-to none)
[ "$(id -u)" -eq 0 ] && mpirun+=(--allow-run-as-root)
step() { printf '\n== %s\n' "$*"; }

step "1. flotilla convert: llama2.c stories260K -> Hugging Face folder"
"$flotilla" convert --checkpoint "$shared/models/stories260K/llama2c/stories260K.bin" \
  --tokenizer "$shared/models/stories260K/llama2c/tok512.bin" --out "$out/stories260K"

step "2. flotilla generate: the base model tells a story"
"$flotilla" generate --model "$out/stories260K" --prompt "Once upon a time" --ignore-chat-template \
  --max-tokens 120 --temp 0.8 --seed 42

step "3. flotilla pirate data: 300 stories sampled from the model, retold in pirate speech"
"$flotilla" pirate data --model "$out/stories260K" --out "$out/pirate_raw.jsonl" --count 300 --max-tokens 120

step "4. flotilla prepare: Dolly records -> chat messages, deduplicated, 90/10 split"
"$flotilla" prepare "$out/pirate_raw.jsonl" --out "$out/data" --valid-fraction 0.1 --model "$out/stories260K" \
  --max-seq-length 512

iters=100
train=(train --model "$out/stories260K" --train --data "$out/data" --iters $iters --batch-size 8 --num-layers -1
       --learning-rate 1e-4 --steps-per-report 20 --steps-per-eval 50 --val-batches -1 --save-every 50 --mask-prompt)

step "5a. flotilla train on 1 rank (1 thread)"
now() { date +%s.%N; }
start=$(now)
"$flotilla" "${train[@]}" --adapter-path "$out/adapters-1rank" --threads 1
one=$(awk -v a="$start" -v b="$(now)" 'BEGIN { print b - a }')

step "5b. mpirun -np 2 flotilla train: the same global batch, split over 2 ranks"
start=$(now)
"${mpirun[@]}" "$flotilla" "${train[@]}" --adapter-path "$out/adapters" --threads 1
two=$(awk -v a="$start" -v b="$(now)" 'BEGIN { print b - a }')

step "6. flotilla plot: training and validation loss, and each rank's throughput"
"$flotilla" plot --metrics "$out/adapters/metrics.jsonl" --out "$out/loss.png" --ranks-out "$out/ranks.png"

prompt="Tell me a story like a pirate."
step "7. The same prompt before and after the adapter: \"$prompt\""
"$flotilla" generate --model "$out/stories260K" --prompt "$prompt" --max-tokens 120 --temp 0 > "$out/before.txt"
"$flotilla" generate --model "$out/stories260K" --adapter-path "$out/adapters" --prompt "$prompt" --max-tokens 120 \
  --temp 0 > "$out/after.txt"
story() { sed -n '/^==========$/,/^==========$/p' "$1" | sed '1d;$d'; }
echo "-- base model:"; story "$out/before.txt"
echo "-- with the pirate adapter:"; story "$out/after.txt"
before=$("$flotilla" pirate score "$(story "$out/before.txt")")
after=$("$flotilla" pirate score "$(story "$out/after.txt")")

step "Summary"
printf 'pirate-ness (pirate markers per word): base %s -> adapter %s\n' "$before" "$after"
printf '%-22s %10s %10s\n' "training ($iters iters)" "seconds" "speed-up"
printf '%-22s %10.1f %10s\n' "1 rank" "$one" "1.00x"
printf '%-22s %10.1f %9.2fx\n' "2 ranks (mpirun)" "$two" "$(awk -v a="$one" -v b="$two" 'BEGIN { print a / b }')"
echo "plots: $out/loss.png, $out/ranks.png"
