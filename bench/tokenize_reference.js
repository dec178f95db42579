#!/usr/bin/env node
// The reference side of bench_tokenize: Hugging Face's official Rust `tokenizers` through its
// native Node binding (npm package `tokenizers`, installed outside the repository).
//
//   FLOTILLA_TOKENIZERS_JS=/path/to/node_modules/tokenizers \
//     node bench/tokenize_reference.js TOKENIZER_JSON TEXT_FILE [--chunk-bytes N] [--repeat R] [--ids-out FILE]
//
// Encodes TEXT_FILE in the same chunks as bench_tokenize (cut after the last '\n' at or before
// every N bytes), one `encode` call per chunk, awaited in turn, without special tokens. One
// warm-up pass, then R timed passes; prints the best as one JSON line. --ids-out writes every id
// of the last pass as little-endian int32. Run with RAYON_NUM_THREADS=1: a single `encode` does
// not fan out, and this keeps the whole run on one core.
'use strict';
const fs = require('fs');

function usage(message) {
  process.stderr.write(`tokenize_reference.js: ${message}\n`);
  process.exit(2);
}

const args = process.argv.slice(2);
const options = { chunkBytes: 1 << 20, repeat: 3, idsOut: null };
const positional = [];
for (let i = 0; i < args.length; ++i) {
  if (args[i] === '--chunk-bytes') options.chunkBytes = Number(args[++i]);
  else if (args[i] === '--repeat') options.repeat = Number(args[++i]);
  else if (args[i] === '--ids-out') options.idsOut = args[++i];
  else positional.push(args[i]);
}
if (positional.length !== 2) usage('expected TOKENIZER_JSON TEXT_FILE');
if (!(options.chunkBytes > 0) || !(options.repeat > 0)) usage('--chunk-bytes and --repeat must be positive');

const modulePath = process.env.FLOTILLA_TOKENIZERS_JS || 'tokenizers';
let tokenizers;
try {
  tokenizers = require(modulePath);
} catch (error) {
  usage(`cannot load the tokenizers module '${modulePath}': ${error.message.split('\n')[0]}`);
}
let version = 'unknown';
try {
  version = require(require('path').join(require.resolve(modulePath), '..', 'package.json')).version;
} catch (error) {
  // The version is informative only.
}

// The same cut as bench_tokenize.cpp's chunk_text: after the last '\n' within each chunkBytes.
function chunks(buffer, chunkBytes) {
  const out = [];
  for (let begin = 0; begin < buffer.length;) {
    let end = Math.min(buffer.length, begin + chunkBytes);
    if (end < buffer.length) {
      const newline = buffer.lastIndexOf(0x0a, end - 1);
      if (newline >= begin) end = newline + 1;
    }
    out.push(buffer.toString('utf8', begin, end));
    begin = end;
  }
  return out;
}

async function encodeAll(tokenizer, pieces) {
  const encodings = [];
  for (const piece of pieces) encodings.push(await tokenizer.encode(piece, null, { addSpecialTokens: false }));
  return encodings;
}

async function main() {
  const [tokenizerPath, textPath] = positional;
  const tokenizer = tokenizers.Tokenizer.fromFile(tokenizerPath);
  const buffer = fs.readFileSync(textPath);
  const pieces = chunks(buffer, options.chunkBytes);

  await encodeAll(tokenizer, pieces);  // warm-up
  let best = Infinity;
  let encodings = null;
  for (let r = 0; r < options.repeat; ++r) {
    const start = process.hrtime.bigint();
    encodings = await encodeAll(tokenizer, pieces);
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e9);
  }

  let tokens = 0;
  const idLists = encodings.map((encoding) => encoding.getIds());
  for (const ids of idLists) tokens += ids.length;
  if (options.idsOut) {
    const all = new Int32Array(tokens);
    let at = 0;
    for (const ids of idLists) {
      all.set(ids, at);
      at += ids.length;
    }
    fs.writeFileSync(options.idsOut, Buffer.from(all.buffer));
  }
  process.stdout.write(JSON.stringify({
    implementation: `tokenizers ${version} (Rust, Node binding)`,
    bytes: buffer.length,
    chunks: pieces.length,
    tokens,
    seconds: best,
    mb_per_s: buffer.length / 1e6 / best,
    rayon_num_threads: process.env.RAYON_NUM_THREADS || null,
  }) + '\n');
}

main().catch((error) => usage(error.stack || String(error)));
