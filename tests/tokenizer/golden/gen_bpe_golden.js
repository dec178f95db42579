#!/usr/bin/env node
// Writes bpe_reference.json: ids from Hugging Face's Rust `tokenizers` (npm package, native Node
// binding) for strings that take every path of our BPE merge loop: words longer than the
// short-word scan (priority queue), long runs of SentencePiece "▁", repeated words in one call
// (the per-call cache), byte fallback and Unicode that Qwen2.5 NFC-normalizes.
//
//   FLOTILLA_TOKENIZERS_JS=/path/to/node_modules/tokenizers node tests/tokenizer/golden/gen_bpe_golden.js
'use strict';
const fs = require('fs');
const path = require('path');

const tokenizers = require(process.env.FLOTILLA_TOKENIZERS_JS || 'tokenizers');
const version = require(path.join(require.resolve(process.env.FLOTILLA_TOKENIZERS_JS || 'tokenizers'), '..',
                                  'package.json')).version;
const shared = path.join(__dirname, '..', '..', '..', '..', 'shared', 'tokenizers');
const folders = ['llama-3.2', 'qwen2.5-0.5b-instruct', 'tinyllama-1.1b-chat-v1.0', 'mistral-7b-instruct-v0.3'];

const texts = [
  'a'.repeat(200),
  'pneumonoultramicroscopicsilicovolcanoconiosis'.repeat(3),
  'Supercalifragilisticexpialidocious '.repeat(4) + 'antidisestablishmentarianism'.repeat(3),
  '0123456789'.repeat(12),
  ' '.repeat(70) + 'Hello' + ' '.repeat(70),
  '\t\n'.repeat(40) + 'x',
  '\u2581'.repeat(5) + 'literal\u2581marks\u2581\u2581inside a\u2581b',
  'the cat and the hat and the bat sat on the mat; '.repeat(12),
  '\u4eca\u65e5\u306f\u4e16\u754c'.repeat(20),
  '\ud83e\udd99\ud83d\ude80\u2705'.repeat(25),
  'x' + '\u0301'.repeat(70) + ' cafe\u0301 Vie\u0323\u0302t \u1100\u1161\u11a8',
  'https://example.com/a/very/long/path/with-many-segments_and_underscores?query=1&other=two#fragment'.repeat(2),
  '{"key":"value","nested":{"list":[1,2,3,4,5,6,7,8,9,10]}}'.repeat(3),
];

async function main() {
  const cases = [];
  for (const folder of folders) {
    const tokenizer = tokenizers.Tokenizer.fromFile(path.join(shared, folder, 'tokenizer.json'));
    const ids = [];
    for (const text of texts) ids.push((await tokenizer.encode(text, null, { addSpecialTokens: false })).getIds());
    cases.push({ tokenizer: folder, ids });
  }
  const doc = { reference: `tokenizers ${version} (npm, Rust)`, generator: 'gen_bpe_golden.js', texts, cases };
  fs.writeFileSync(path.join(__dirname, 'bpe_reference.json'), JSON.stringify(doc) + '\n');
}

main().catch((error) => {
  process.stderr.write(String(error.stack || error) + '\n');
  process.exit(1);
});
