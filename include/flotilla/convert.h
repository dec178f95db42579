// Model conversion into a Hugging Face style folder that every Flotilla command reads.
#pragma once
#include <string>

namespace flotilla {

// A llama2.c checkpoint (model.bin) and its tokenizer.bin -> config.json, model.safetensors,
// tokenizer.json and tokenizer_config.json in out_dir (created if missing), each written
// atomically. Refuses an out_dir that holds one of the inputs.
void convert_llama2c(const std::string& checkpoint, const std::string& tokenizer, const std::string& out_dir);

}  // namespace flotilla
