// Writes seed inputs for the harnesses: the hand-written ones of tests/fuzz/seeds/<harness>/, and
// ones from ../shared and the tests' fixtures, cut down to sizes a fuzzer mutates quickly (the
// shared files themselves stay out of the repository).
// Usage: fuzz_make_seeds SHARED_DIR SOURCE_DIR OUT_DIR  ->  OUT_DIR/<harness>/<seed>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "chat_context.h"
#include "core/error.h"
#include "core/file.h"
#include "flotilla/tokenizer.h"

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

fs::path out_dir;
std::map<std::string, int> written;

void write_seed(const std::string& harness, const std::string& name, const std::string& bytes) {
  fs::create_directories(out_dir / harness);
  std::ofstream(out_dir / harness / name, std::ios::binary) << bytes;
  ++written[harness];
}

std::string read(const fs::path& path) { return flotilla::read_file(path, "seeds"); }

std::vector<fs::path> files_in(const fs::path& folder, const std::string& extension) {
  std::vector<fs::path> paths;
  if (!fs::is_directory(folder)) return paths;
  for (const auto& entry : fs::directory_iterator(folder)) {
    if (entry.is_regular_file() && entry.path().extension() == extension) paths.push_back(entry.path());
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

// fuzz_jsonl reads a mode character first: '0' to '5' are its six readers.
void jsonl_seed(const std::string& name, const std::string& file) {
  for (char mode = '0'; mode <= '5'; ++mode) write_seed("jsonl", std::string(1, mode) + "-" + name, mode + file);
}

void committed_seeds(const fs::path& source) {
  for (const auto& folder : fs::directory_iterator(source / "tests/fuzz/seeds")) {
    const std::string harness = folder.path().filename().string();
    for (const auto& file : fs::directory_iterator(folder.path())) {
      const std::string name = file.path().filename().string();
      if (harness == "jsonl") {
        jsonl_seed(name, read(file.path()));
      } else {
        write_seed(harness, name, read(file.path()));
      }
    }
  }
}

// Every small config.json: model configs for fuzz_model_config, and YAML seeds (YAML reads JSON).
void config_seeds(const fs::path& shared) {
  std::vector<fs::path> configs = files_in(shared / "configs", ".json");
  for (const char* model : {"hf", "mlx-4bit"}) configs.push_back(shared / "models/stories260K" / model / "config.json");
  for (const auto& entry : fs::directory_iterator(shared / "tokenizers")) configs.push_back(entry.path() / "config.json");
  for (const auto& path : configs) {
    if (!fs::is_regular_file(path)) continue;
    const std::string name = path.parent_path().filename().string() + "-" + path.filename().string();
    write_seed("model_config", name, read(path));
    write_seed("yaml", name, read(path));
  }
}

// The first `keep` ids of a real tokenizer.json, the merges among them and a few added tokens:
// every component of the real file, at a size worth mutating. (Unordered JSON: ordered_json looks
// keys up linearly, minutes for a 128k vocabulary.)
nlohmann::json shrink_tokenizer(nlohmann::json tokenizer, int64_t keep) {
  nlohmann::json& model = tokenizer["model"];
  nlohmann::json vocab = nlohmann::json::object();
  std::set<std::string> kept;
  for (const auto& [piece, id] : model["vocab"].items()) {
    if (id.get<int64_t>() >= keep) continue;
    vocab[piece] = id;
    kept.insert(piece);
  }
  nlohmann::json merges = nlohmann::json::array();
  for (const auto& merge : model["merges"]) {
    std::string left, right;
    if (merge.is_string()) {
      const std::string text = merge.get<std::string>();
      const size_t space = text.find(' ', 1);
      if (space == std::string::npos) continue;
      left = text.substr(0, space), right = text.substr(space + 1);
    } else {
      left = merge[0].get<std::string>(), right = merge[1].get<std::string>();
    }
    if (kept.count(left) && kept.count(right) && kept.count(left + right)) merges.push_back(merge);
  }
  model["vocab"] = std::move(vocab);
  model["merges"] = std::move(merges);
  nlohmann::json added = nlohmann::json::array();
  for (const auto& token : tokenizer["added_tokens"]) {
    if (added.size() < 8) added.push_back(token);
  }
  tokenizer["added_tokens"] = std::move(added);
  return tokenizer;
}

// Test strings of llama.cpp's vocab vectors (.inp: strings separated by a marker line).
std::vector<std::string> vector_texts(const fs::path& shared) {
  std::vector<std::string> texts;
  for (const auto& path : files_in(shared / "tokenizers/vectors/llamacpp", ".inp")) {
    const std::string all = read(path);
    const std::string marker = "\n__ggml_vocab_test__\n";
    for (size_t begin = 0, end; (end = all.find(marker, begin)) != std::string::npos; begin = end + marker.size()) {
      texts.push_back(all.substr(begin, end - begin));
    }
  }
  return texts;
}

void tokenizer_seeds(const fs::path& shared) {
  const std::vector<std::string> texts = vector_texts(shared);
  for (const auto& entry : fs::directory_iterator(shared / "tokenizers")) {
    const fs::path path = entry.path() / "tokenizer.json";
    if (!fs::is_regular_file(path)) continue;
    const std::string json = shrink_tokenizer(nlohmann::json::parse(read(path)), 400).dump();
    std::string config;
    if (fs::is_regular_file(entry.path() / "tokenizer_config.json")) {
      const Json full = Json::parse(read(entry.path() / "tokenizer_config.json"));
      Json kept = Json::object();
      for (const char* key : {"bos_token", "eos_token", "pad_token", "add_bos_token", "add_eos_token"}) {
        if (full.contains(key)) kept[key] = full[key];
      }
      config = kept.dump();
    }
    try {
      flotilla::Tokenizer::from_json_text(json, config);
    } catch (const flotilla::Error&) {
      config.clear();  // a special token of the config fell outside the kept ids
    }
    flotilla::Tokenizer::from_json_text(json, config);
    const std::string name = entry.path().filename().string();
    for (size_t i = 0; i < texts.size(); i += std::max<size_t>(1, texts.size() / 8)) {
      write_seed("tokenizer", name + "-" + std::to_string(i), json + '\0' + config + '\0' + texts[i]);
    }
  }
}

void chat_seeds(const fs::path& shared, const fs::path& source) {
  const auto templates = flotilla::fuzz::real_template_paths(shared);
  for (const auto& path : templates) write_seed("chat_template", path.filename().string(), read(path));
  for (const auto& entry : fs::directory_iterator(shared / "tokenizers")) {
    const fs::path config = entry.path() / "tokenizer_config.json";
    if (!fs::is_regular_file(config)) continue;
    const Json json = Json::parse(read(config));
    if (json.contains("chat_template") && json["chat_template"].is_string()) {
      write_seed("chat_template", entry.path().filename().string() + ".jinja", json["chat_template"].get<std::string>());
    }
  }

  // Each conversation of the golden tests with each template, and as a dataset record.
  const Json golden = Json::parse(read(source / "tests/chat/golden/conversations.json"));
  for (const auto& [name, conversation] : golden["conversations"].items()) {
    Json context = conversation;
    context["date_string"] = golden["date_string"];
    for (size_t index = 0; index < templates.size(); ++index) {
      const std::string prefix{static_cast<char>(index), static_cast<char>(index % 2)};
      write_seed("chat_messages", templates[index].stem().string() + "-" + name, prefix + context.dump());
    }
    Json record = {{"messages", conversation["messages"]}};
    if (conversation.contains("tools")) record["tools"] = conversation["tools"];
    jsonl_seed(name + ".jsonl", record.dump() + "\n");
  }
}

size_t dtype_bytes(const std::string& dtype) {
  static const std::map<std::string, size_t> sizes = {{"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2},
                                                      {"I64", 8}, {"I32", 4}, {"U32", 4}, {"I16", 2},
                                                      {"U8", 1},  {"I8", 1},  {"BOOL", 1}};
  return sizes.at(dtype);
}

// A real header with every dimension cut to at most 3 and offsets laid out again: a small valid file.
void safetensors_seed(const fs::path& path, const std::string& name) {
  const std::string file = read(path);
  uint64_t length = 0;
  for (int i = 7; i >= 0; --i) length = length << 8 | static_cast<uint8_t>(file[i]);
  Json header = Json::parse(file.substr(8, length));
  uint64_t offset = 0;
  for (auto& [key, entry] : header.items()) {
    if (key == "__metadata__") continue;
    uint64_t count = 1;
    for (auto& dim : entry["shape"]) {
      dim = std::min<int64_t>(dim.get<int64_t>(), 3);
      count *= dim.get<uint64_t>();
    }
    const uint64_t bytes = count * dtype_bytes(entry["dtype"].get<std::string>());
    entry["data_offsets"] = {offset, offset + bytes};
    offset += bytes;
  }
  const std::string text = header.dump();
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(text.size() >> (8 * i));
  out += text;
  for (uint64_t i = 0; i < offset; ++i) out += static_cast<char>(i * 37);
  write_seed("safetensors", name, out);
}

template <typename T>
void append(std::string& out, T value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof(value));
}

// Tiny checkpoints in llama2.c's legacy layout (header, then the float arrays in file order).
void llama2c_checkpoint_seed(const std::string& name, int32_t dim, int32_t hidden, int32_t layers, int32_t heads,
                             int32_t kv_heads, int32_t vocab, int32_t seq_len) {
  const int64_t V = std::abs(vocab), C = dim, F = hidden, L = layers, kv = int64_t{kv_heads} * (dim / heads);
  const int64_t floats = V * C + L * C + L * C * C + 2 * L * kv * C + L * C * C + L * C + 3 * L * F * C + C +
                         2 * seq_len * (dim / heads / 2) + (vocab < 0 ? V * C : 0);
  std::string out;
  for (int32_t value : {dim, hidden, layers, heads, kv_heads, vocab, seq_len}) append(out, value);
  for (int64_t i = 0; i < floats; ++i) append(out, static_cast<float>(i % 17) / 16.f - 0.5f);
  write_seed("llama2c_checkpoint", name, out);
}

// tok512.bin whole (vocab 512) and cut to its first 300 tokens.
void llama2c_tokenizer_seeds(const fs::path& shared) {
  const std::string file = read(shared / "models/stories260K/llama2c/tok512.bin");
  for (uint16_t vocab : {512, 300}) {
    size_t offset = 4;
    for (int id = 0; id < vocab && offset + 8 <= file.size(); ++id) {
      int32_t length = 0;
      std::memcpy(&length, file.data() + offset + 4, 4);
      offset += 8 + length;
    }
    std::string out;
    append(out, vocab);
    out += file.substr(0, offset);
    write_seed("llama2c_tokenizer", "tok512-" + std::to_string(vocab), out);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s SHARED_DIR SOURCE_DIR OUT_DIR\n", argv[0]);
    return 2;
  }
  const fs::path shared = argv[1], source = argv[2];
  out_dir = argv[3];
  try {
    committed_seeds(source);
    config_seeds(shared);
    tokenizer_seeds(shared);
    chat_seeds(shared, source);
    safetensors_seed(shared / "models/stories260K/hf/model.safetensors", "stories260K-hf");
    safetensors_seed(shared / "models/stories260K/mlx-4bit/model.safetensors", "stories260K-mlx-4bit");
    llama2c_checkpoint_seed("tied", 4, 6, 1, 2, 1, 8, 2);
    llama2c_checkpoint_seed("untied", 4, 6, 2, 2, 2, -8, 3);
    llama2c_checkpoint_seed("wide-heads", 8, 4, 1, 2, 1, 5, 1);
    llama2c_tokenizer_seeds(shared);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "fuzz_make_seeds: %s\n", error.what());
    return 1;
  }
  for (const auto& [harness, count] : written) std::printf("%s: %d generated seeds\n", harness.c_str(), count);
  return 0;
}
