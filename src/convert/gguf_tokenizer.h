// A Hugging Face tokenizer.json as llama.cpp's tokenizer.ggml.* keys: SentencePiece-style BPE as
// "llama" (tokens, scores, token types) and byte-level BPE as "gpt2" (tokens, merges, token types,
// the pre-tokenizer's llama.cpp name), special tokens, add_bos/add_eos and the chat template.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

#include "convert/gguf_writer.h"

namespace flotilla::convert {

// Reads dir/tokenizer.json (and tokenizer_config.json, the chat template) and adds the keys; the
// vocabulary is padded to vocab_size with "[PAD<id>]" tokens. An Error naming the file and what
// was expected when llama.cpp has no equivalent (another model type, an unknown pre-tokenizer).
void add_gguf_tokenizer(GgufWriter& writer, const std::filesystem::path& dir, int64_t vocab_size);

}  // namespace flotilla::convert
