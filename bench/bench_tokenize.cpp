// Encode throughput of the tokenizer.json BPE, byte-level (Llama-3.2, Qwen2.5) and
// SentencePiece-style (TinyLlama, Mistral v0.3), against Hugging Face's official Rust `tokenizers`
// (npm package, native Node binding) run in the same process tree on the same file and chunks.
//
// Usage: bench_tokenize [--mb 8] [--chunk-bytes 1048576] [--repeat 3] [--keep TEXT_FILE]
//   FLOTILLA_TOKENIZERS_JS=/path/to/node_modules/tokenizers   the reference; without it (or
//   without node) only our side runs, and the reason is printed.
//
// The text (deterministic, built from ../shared only; see make_text) is a mix of paragraphs:
// English prose from a word-bigram chain over the licences and documents in ../shared (a quarter
// of it retold by the project's pirate translator), Jinja code from the chat templates (with the
// special-token text in them, matched as added tokens), numbers, CSV/JSON and training-log lines,
// and multilingual lines (16 languages in 10 scripts, emoji, the llama.cpp test strings).
// Both sides encode it in the same chunks (cut after the last '\n' within every --chunk-bytes),
// one encode call per chunk, without special tokens, on one thread (RAYON_NUM_THREADS=1 for
// Rust); the best of --repeat passes after a warm-up counts. Ids must be identical.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "chat/builtins/string_ops.h"
#include "core/file.h"
#include "core/timer.h"
#include "tutorial/pirate.h"
#include "flotilla/tokenizer.h"

namespace fs = std::filesystem;
using namespace flotilla;

namespace {

const fs::path kShared = FLOTILLA_SHARED_DIR;

// SplitMix64: the same stream everywhere (std distributions are implementation-defined).
struct Rng {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  size_t below(size_t n) { return static_cast<size_t>(next() % n); }
  template <typename T>
  const T& pick(const std::vector<T>& items) { return items[below(items.size())]; }
};

std::vector<std::string> split_words(const std::string& text) {
  std::vector<std::string> words;
  std::istringstream in(text);
  for (std::string word; in >> word;) words.push_back(word);
  return words;
}

// Sentences in 16 languages (10 scripts) and emoji, to go with the llama.cpp test strings.
const std::vector<std::string>& multilingual_sentences() {
  static const std::vector<std::string> sentences = {
      "Der schnelle braune Fuchs springt über den faulen Hund, während die Möwen über dem Hafen kreisen.",
      "Größere Schiffe benötigen mehr Besatzung; das Tauwerk wird täglich überprüft.",
      "Le capitaine a décidé de lever l'ancre à l'aube, malgré les prévisions météorologiques.",
      "Où est la carte ? Elle était cachée derrière le tonneau de rhum, près de l'échelle.",
      "El barco zarpó del puerto de Cádiz con cuarenta y dos marineros a bordo.",
      "¿Cuántas millas faltan hasta la isla? Nadie lo sabía con certeza.",
      "Корабль вышел из гавани на рассвете, и ветер наполнил паруса.",
      "Капитан записал координаты в судовой журнал: 54° северной широты.",
      "Πλοίο στον ορίζοντα! Ο καπετάνιος κοίταξε με το τηλεσκόπιο.",
      "船长在日出时下令起锚，船员们迅速各就各位。",
      "地图上标着一个红色的叉，宝藏就埋在那棵老椰子树下面。",
      "船は夜明けに港を出て、風が帆をいっぱいに膨らませた。",
      "宝の地図は古い樽の中に隠されていたと、年老いた船乗りが語った。",
      "선장은 새벽에 닻을 올리라고 명령했고, 선원들은 재빨리 움직였다.",
      "섬까지 얼마나 남았는지 아무도 정확히 알지 못했다.",
      "أبحرت السفينة من الميناء عند الفجر، وامتلأت الأشرعة بالرياح.",
      "कप्तान ने सुबह लंगर उठाने का आदेश दिया और नाविक तुरंत काम पर लग गए।",
      "Thuyền trưởng ra lệnh nhổ neo lúc bình minh, và các thủy thủ nhanh chóng vào vị trí.",
      "เรือออกจากท่าเรือตอนรุ่งสาง และลมก็พัดใบเรือจนเต็ม",
      "הספינה יצאה מהנמל עם שחר, והרוח מילאה את המפרשים.",
      "Kapten memerintahkan untuk mengangkat jangkar saat fajar menyingsing.",
      "Gemi şafakta limandan ayrıldı ve rüzgâr yelkenleri doldurdu.",
      "Statek wypłynął z portu o świcie, a wiatr wypełnił żagle.",
      "🏴‍☠️ Ahoy! ⚓️ 🌊🌊 🦜 — ☀️ 28°C, 🌬️ 15 kn NNE ✅ 👍🏽",
  };
  return sentences;
}

// Deterministic text of at least `target_bytes` (see the header).
std::string make_text(size_t target_bytes) {
  Rng rng{20240917};

  // Word-bigram chain over the English documents of ../shared.
  std::string english;
  for (const char* file : {"tokenizers/llama-3.2/LICENSE.llama3", "tokenizers/llama-3.2/llama3_2_text_prompt_format.md",
                           "tokenizers/mistral-7b-instruct-v0.3/LICENCE", "README.md", "STYLE.md",
                           "tokenizers/vectors/llamacpp/SOURCES.txt"}) {
    english += read_file(kShared / file, "bench") + "\n";
  }
  const std::vector<std::string> words = split_words(english);
  std::map<std::string, std::vector<size_t>> next;  // word -> indices of the words that follow it
  std::vector<size_t> starts;                       // words that follow a sentence end
  for (size_t i = 0; i + 1 < words.size(); ++i) {
    next[words[i]].push_back(i + 1);
    if (words[i].back() == '.' || words[i].back() == '?' || words[i].back() == '!') starts.push_back(i + 1);
  }

  // Code: the chat templates, whole lines.
  std::vector<std::string> code;
  std::vector<fs::path> templates;
  for (const auto& entry : fs::directory_iterator(kShared / "chat_templates")) {
    if (entry.path().extension() == ".jinja") templates.push_back(entry.path());
  }
  std::sort(templates.begin(), templates.end());
  for (const auto& path : templates) {
    for (const auto& line : chat::split_lines(read_file(path, "bench"), /*keep_ends=*/false)) code.push_back(line);
  }

  std::vector<std::string> foreign = multilingual_sentences();
  {
    const std::string inp = read_file(kShared / "tokenizers/vectors/llamacpp/ggml-vocab-llama-bpe.gguf.inp", "bench");
    const std::string separator = "\n__ggml_vocab_test__\n";
    for (size_t pos = 0, end; (end = inp.find(separator, pos)) != std::string::npos; pos = end + separator.size()) {
      foreign.push_back(inp.substr(pos, end - pos));
    }
  }

  std::string text;
  text.reserve(target_bytes + 4096);
  uint64_t paragraph = 0;
  while (text.size() < target_bytes) {
    const size_t kind = rng.below(100);
    std::string block;
    if (kind < 55) {  // prose
      const size_t sentences = 2 + rng.below(6);
      for (size_t s = 0; s < sentences; ++s) {
        size_t i = rng.pick(starts);
        for (size_t n = 0; n < 60 && i < words.size(); ++n) {
          block += (block.empty() || block.back() == '\n' ? "" : " ") + words[i];
          const char last = words[i].back();
          if (n >= 6 && (last == '.' || last == '?' || last == '!')) break;
          const auto it = next.find(words[i]);
          if (it == next.end()) break;
          i = rng.pick(it->second);
        }
      }
      if (rng.below(4) == 0) block = tutorial::to_pirate(block, {/*seed=*/paragraph, /*interjection_rate=*/0.25});
    } else if (kind < 70) {  // code
      const size_t first = rng.below(code.size()), lines = 3 + rng.below(28);
      for (size_t l = first; l < std::min(code.size(), first + lines); ++l) block += code[l] + "\n";
    } else if (kind < 85) {  // numbers and logs
      const size_t lines = 2 + rng.below(8);
      for (size_t l = 0; l < lines; ++l) {
        const uint64_t a = rng.next();
        switch (rng.below(4)) {
          case 0:
            block += fmt::format("Iter {}: Train loss {:.3f}, Learning Rate {:.3e}, It/sec {:.3f}, Tokens/sec {:.3f}, "
                                 "Trained Tokens {}, Peak mem {:.3f} GB\n",
                                 a % 5000, (a % 4000) / 1000.0, (a % 97) * 1e-6, (a % 9000) / 1000.0,
                                 (a % 20000000) / 1000.0, a % 900000, (a % 3000) / 1000.0);
            break;
          case 1:
            block += fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02},{},{:.2f},${},{}.{}.{}.{}\n", 1990 + a % 40,
                                 1 + a % 12, 1 + a % 28, a % 24, a % 60, (a >> 8) % 60, a % 100000,
                                 static_cast<double>(a % 1000000) / 100.0, (a >> 20) % 100000, a % 256, (a >> 8) % 256,
                                 (a >> 16) % 256, (a >> 24) % 256);
            break;
          case 2:
            block += fmt::format("x = {} * 0x{:X} + {:.6f}; // v{}.{}.{}, {}%\n", a % 1000, (a >> 12) % 0xFFFFFF,
                                 static_cast<double>(a % 10000000) / 1e6, a % 4, a % 30, a % 11, a % 101);
            break;
          default:
            block += fmt::format("{{\"id\": {}, \"lat\": {:.4f}, \"lon\": {:.4f}, \"phone\": \"+{} {}-{}\"}}\n", a % 100000,
                                 static_cast<double>(a % 180000) / 1000.0 - 90.0,
                                 static_cast<double>((a >> 20) % 360000) / 1000.0 - 180.0, 1 + a % 99,
                                 (a >> 10) % 1000, (a >> 30) % 10000);
        }
      }
    } else {  // multilingual
      const size_t sentences = 1 + rng.below(5);
      for (size_t s = 0; s < sentences; ++s) block += (s ? " " : "") + rng.pick(foreign);
    }
    if (!block.empty() && block.back() != '\n') block += '\n';
    text += block + "\n";
    ++paragraph;
  }
  return text;
}

// Chunks as tokenize_reference.js cuts them: after the last '\n' within each chunk_bytes.
std::vector<std::string_view> chunk_text(std::string_view text, size_t chunk_bytes) {
  std::vector<std::string_view> chunks;
  for (size_t begin = 0; begin < text.size();) {
    size_t end = std::min(text.size(), begin + chunk_bytes);
    if (end < text.size()) {
      const size_t newline = text.rfind('\n', end - 1);
      if (newline != std::string_view::npos && newline >= begin) end = newline + 1;
    }
    chunks.push_back(text.substr(begin, end - begin));
    begin = end;
  }
  return chunks;
}

struct Result {
  double seconds = 0;
  std::vector<int32_t> ids;
};

Result bench_ours(const Tokenizer& tokenizer, const std::vector<std::string_view>& chunks, int repeat) {
  const auto pass = [&](std::vector<int32_t>* ids) {
    for (const auto& chunk : chunks) {
      const std::vector<int64_t> encoded = tokenizer.encode(std::string(chunk), /*add_special_tokens=*/false);
      if (ids) ids->insert(ids->end(), encoded.begin(), encoded.end());
    }
  };
  Result result;
  pass(&result.ids);  // warm-up, and the ids
  result.seconds = 1e30;
  for (int r = 0; r < repeat; ++r) {
    Timer timer;
    pass(nullptr);
    result.seconds = std::min(result.seconds, timer.seconds());
  }
  return result;
}

std::string shell_quote(const std::string& text) {
  std::string out = "'";
  for (const char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs tokenize_reference.js; on success fills `result` and returns "", else the reason it did not run.
std::string bench_reference(const fs::path& tokenizer_json, const fs::path& text_file, size_t chunk_bytes, int repeat,
                            const fs::path& scratch, Result& result, nlohmann::json& report) {
  const char* module = std::getenv("FLOTILLA_TOKENIZERS_JS");
  if (module == nullptr || *module == '\0') {
    return "FLOTILLA_TOKENIZERS_JS is not set (point it at node_modules/tokenizers of `npm install tokenizers`)";
  }
  if (std::system("node --version > /dev/null 2>&1") != 0) return "node is not on PATH";
  const fs::path script = fs::path(__FILE__).parent_path() / "tokenize_reference.js";
  if (!fs::exists(script)) return "cannot find " + script.string();
  const fs::path ids_file = scratch / "reference_ids.bin", out_file = scratch / "reference.json";
  const std::string command = fmt::format(
      "RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false node {} {} {} --chunk-bytes {} --repeat {} --ids-out {} > {}",
      shell_quote(script.string()), shell_quote(tokenizer_json.string()), shell_quote(text_file.string()), chunk_bytes,
      repeat, shell_quote(ids_file.string()), shell_quote(out_file.string()));
  if (std::system(command.c_str()) != 0) return "tokenize_reference.js failed (its message is above)";
  report = nlohmann::json::parse(read_file(out_file, "bench"));
  result.seconds = report.at("seconds").get<double>();
  const std::string bytes = read_file(ids_file, "bench");
  result.ids.resize(bytes.size() / 4);
  std::memcpy(result.ids.data(), bytes.data(), result.ids.size() * 4);
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  double megabytes = 8;
  size_t chunk_bytes = 1 << 20;
  int repeat = 3;
  std::string keep;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--mb") {
      megabytes = std::stod(value());
    } else if (arg == "--chunk-bytes") {
      chunk_bytes = std::stoull(value());
    } else if (arg == "--repeat") {
      repeat = std::stoi(value());
    } else if (arg == "--keep") {
      keep = value();
    } else {
      std::fprintf(stderr, "usage: bench_tokenize [--mb 8] [--chunk-bytes 1048576] [--repeat 3] [--keep TEXT_FILE]\n");
      return 2;
    }
  }

  const fs::path scratch = fs::temp_directory_path() / fmt::format("flotilla-bench-tokenize-{}", ::getpid());
  fs::create_directories(scratch);
  Timer timer;
  const std::string text = make_text(static_cast<size_t>(megabytes * 1e6));
  const fs::path text_file = keep.empty() ? scratch / "text.txt" : fs::path(keep);
  std::ofstream(text_file, std::ios::binary) << text;
  const auto chunks = chunk_text(text, chunk_bytes);
  fmt::print("text: {:.2f} MB ({} bytes) in {} chunks of <= {} bytes, made in {:.1f} s{}\n", text.size() / 1e6,
             text.size(), chunks.size(), chunk_bytes, timer.seconds(), keep.empty() ? "" : ", kept at " + keep);
  fmt::print("one thread each side (RAYON_NUM_THREADS=1 for the Rust library); best of {} passes after a warm-up; "
             "MB = 10^6 bytes\n\n",
             repeat);
  fmt::print("{:<30} {:>10} {:>11} {:>11} {:>8}  {}\n", "tokenizer", "tokens", "ours MB/s", "Rust MB/s", "ratio",
             "ids");

  bool all_identical = true;
  std::string skipped, implementation;
  for (const auto& [name, folder] : std::vector<std::pair<std::string, std::string>>{
           {"Llama-3.2 (byte-level)", "llama-3.2"},
           {"Qwen2.5 (byte-level)", "qwen2.5-0.5b-instruct"},
           {"TinyLlama (SentencePiece)", "tinyllama-1.1b-chat-v1.0"},
           {"Mistral v0.3 (SentencePiece)", "mistral-7b-instruct-v0.3"}}) {
    const fs::path json = kShared / "tokenizers" / folder / "tokenizer.json";
    const Tokenizer tokenizer = Tokenizer::from_file(json.string());
    const Result ours = bench_ours(tokenizer, chunks, repeat);
    const double ours_mbs = text.size() / 1e6 / ours.seconds;

    Result reference;
    nlohmann::json report;
    const std::string reason =
        skipped.empty() ? bench_reference(json, text_file, chunk_bytes, repeat, scratch, reference, report) : skipped;
    if (!reason.empty()) {
      skipped = reason;
      fmt::print("{:<30} {:>10} {:>11.2f} {:>11} {:>8}  {}\n", name, ours.ids.size(), ours_mbs, "-", "-", "-");
      continue;
    }
    const double reference_mbs = text.size() / 1e6 / reference.seconds;
    std::string verdict = "identical";
    if (reference.ids != ours.ids) {
      all_identical = false;
      size_t first = 0;
      while (first < ours.ids.size() && first < reference.ids.size() && ours.ids[first] == reference.ids[first]) ++first;
      verdict = fmt::format("DIFFER: {} vs {} tokens, first difference at token {}", ours.ids.size(),
                            reference.ids.size(), first);
    }
    fmt::print("{:<30} {:>10} {:>11.2f} {:>11.2f} {:>7.2f}x  {}\n", name, ours.ids.size(), ours_mbs, reference_mbs,
               ours_mbs / reference_mbs, verdict);
    implementation = report.value("implementation", "?");
  }
  if (!implementation.empty()) fmt::print("\nreference: {}\n", implementation);
  if (!skipped.empty()) fmt::print("\nRust reference skipped: {}\n", skipped);
  fs::remove_all(scratch);
  return all_identical ? 0 : 1;
}
