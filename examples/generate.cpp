// Generate from a model folder with the library: load, encode through the chat template, sample,
// decode as tokens arrive. Usage: example_generate MODEL_DIR "prompt"
#include <iostream>

#include "data/training_examples.h"
#include "infer/generate.h"
#include "model/loader.h"
#include "tokenizer/tokenizer.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: " << argv[0] << " MODEL_DIR PROMPT\n";
    return 2;
  }
  using namespace flotilla;
  try {
    auto loaded = load_model(argv[1]);
    auto tokenizer = Tokenizer::from_dir(argv[1]);
    auto messages = nlohmann::ordered_json::array({{{"role", "user"}, {"content", argv[2]}}});
    auto prompt = data::ExampleTokenizer(tokenizer, data::conversation_renderer(argv[1])).encode_prompt(messages);

    GenerationOptions options;
    options.max_tokens = 100;
    options.sampling.temperature = 0.7f;
    options.stop_tokens = tokenizer.eos_ids();
    StreamingDecoder text(tokenizer);
    auto result = generate(loaded.model, prompt, options, [&](int64_t token) { std::cout << text.push(token) << std::flush; });
    std::cout << text.finish() << "\n" << format_generation_stats(result);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
