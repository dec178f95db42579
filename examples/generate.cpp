// Generate with the public API: load a model folder, send one user message through its chat
// template, print the text as it arrives. Usage: example_generate MODEL_DIR "prompt"
#include <flotilla/flotilla.h>

#include <iostream>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: " << argv[0] << " MODEL_DIR PROMPT\n";
    return 2;
  }
  try {
    const auto model = flotilla::Model::load(argv[1]);
    flotilla::GenerateSettings settings;
    settings.max_tokens = 100;
    settings.sampling.temperature = 0.7f;
    const auto result = flotilla::generate(model, argv[2], settings, [](int64_t, const std::string& text) {
      std::cout << text << std::flush;
    });
    std::cout << "\n" << result.stats;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
