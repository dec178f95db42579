#!/usr/bin/env bash
# The main job at this stage: convert the shipped llama2.c stories260K model to a Hugging Face
# folder, then tell a story with it (greedy from the 4-bit copy, then sampled).
set -euo pipefail
build=${1:-build}
shared=${FLOTILLA_SHARED:-$(cd "$(dirname "$0")/../.." && pwd)/shared}
flotilla="$build/flotilla"
out=out/demo
mkdir -p "$out"

echo "== flotilla convert (llama2.c -> Hugging Face folder)"
"$flotilla" convert --checkpoint "$shared/models/stories260K/llama2c/stories260K.bin" \
  --tokenizer "$shared/models/stories260K/llama2c/tok512.bin" --out "$out/stories260K"

echo
echo "== flotilla generate (sampled, temperature 0.8)"
"$flotilla" generate --model "$out/stories260K" --prompt "Once upon a time" --max-tokens 200 --temp 0.8 --seed 42
