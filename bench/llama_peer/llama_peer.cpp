// llama_peer: llama.cpp (the prebuilt release installed by scripts/setup_llama_peer.sh) running a
// GGUF file on the CPU, timed like bench_mission times Flotilla, for a side-by-side speed line, and
// as the reference that Flotilla's GGUF export is tested against.
//
//   llama_peer run --model FILE [--threads 2] [--prompt-tokens 128] [--decode-tokens 32]
//                  [--logits-out FILE] [--verbose]
//   llama_peer logits --model FILE --tokens 1,2,3 --logits-out FILE [--greedy 32] [--text-file FILE]
//                     [--threads 2] [--verbose]
//
// run prints one JSON line on stdout: prompt_tokens_per_sec (the whole prompt as one batch on a fresh
// context, weights already faulted in by a warm-up), decode_tokens_per_sec (greedy, one token per
// llama_decode, after one untimed step), peak_rss_bytes, load_seconds. --logits-out writes the
// prompt's last-position logits as raw float32 (vocab values).
// logits feeds the given tokens as one batch and writes the logits at every position as raw float32
// [tokens][vocab] to --logits-out; it prints one JSON line: n_vocab, greedy (the --greedy argmax
// continuation) and, with --text-file, tokenized (llama_tokenize of the file with its special tokens
// added). Diagnostics go to stderr.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "ggml-backend.h"
#include "llama.h"

namespace {

struct Options {
  bool logits_mode = false;  // `logits` rather than `run`
  std::string model;
  std::string logits_out;
  std::string text_file;
  std::vector<int> tokens;
  int greedy = 0;
  int threads = 2;
  int prompt_tokens = 128;
  int decode_tokens = 32;
  bool verbose = false;
};

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "[llama_peer] %s\n", message.c_str());
  std::exit(1);
}

const char* kUsage =
    "usage: llama_peer run --model FILE [--threads N] [--prompt-tokens N] [--decode-tokens N]\n"
    "                      [--logits-out FILE] [--verbose]\n"
    "       llama_peer logits --model FILE --tokens ID,ID,... --logits-out FILE [--greedy N]\n"
    "                         [--text-file FILE] [--threads N] [--verbose]";

int positive(const std::string& flag, const char* text) {
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (*text == '\0' || *end != '\0' || value < 1 || value > 1000000) {
    die(flag + " '" + text + "': expected a whole number from 1 to 1000000");
  }
  return static_cast<int>(value);
}

std::vector<int> token_list(const char* text) {
  std::vector<int> ids;
  for (const char* at = text; *at != '\0';) {
    char* end = nullptr;
    const long id = std::strtol(at, &end, 10);
    if (end == at || id < 0 || id > 10000000 || (*end != ',' && *end != '\0')) die(std::string("--tokens '") + text + "': expected ids like 1,2,3");
    ids.push_back(static_cast<int>(id));
    at = *end == ',' ? end + 1 : end;
  }
  return ids;
}

Options parse(int argc, char** argv) {
  if (argc < 2 || (std::strcmp(argv[1], "run") != 0 && std::strcmp(argv[1], "logits") != 0)) die(kUsage);
  Options o;
  o.logits_mode = std::strcmp(argv[1], "logits") == 0;
  for (int i = 2; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--verbose") {
      o.verbose = true;
      continue;
    }
    if (i + 1 >= argc) die(flag + " needs a value\n" + kUsage);
    const char* value = argv[++i];
    if (flag == "--model") o.model = value;
    else if (flag == "--logits-out") o.logits_out = value;
    else if (flag == "--threads") o.threads = positive(flag, value);
    else if (flag == "--prompt-tokens") o.prompt_tokens = positive(flag, value);
    else if (flag == "--decode-tokens") o.decode_tokens = positive(flag, value);
    else if (flag == "--tokens" && o.logits_mode) o.tokens = token_list(value);
    else if (flag == "--greedy" && o.logits_mode) o.greedy = positive(flag, value);
    else if (flag == "--text-file" && o.logits_mode) o.text_file = value;
    else die("unknown flag " + flag + "\n" + kUsage);
  }
  if (o.model.empty()) die(std::string("--model is required\n") + kUsage);
  if (o.logits_mode && (o.tokens.empty() || o.logits_out.empty())) die(std::string("logits needs --tokens and --logits-out\n") + kUsage);
  if (o.logits_mode) o.prompt_tokens = static_cast<int>(o.tokens.size()), o.decode_tokens = o.greedy;
  return o;
}

// llama.cpp logs a lot at INFO; keep warnings, errors and which CPU backend variant was loaded.
void log_filter(ggml_log_level level, const char* text, void* user_data) {
  const bool verbose = *static_cast<bool*>(user_data);
  if (verbose || level >= GGML_LOG_LEVEL_WARN || std::strstr(text, "loaded CPU backend")) {
    std::fputs(text, stderr);
  }
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// One sequence's tokens at consecutive positions; logits only for the last one.
class Batch {
 public:
  explicit Batch(int capacity) : batch_(llama_batch_init(capacity, 0, 1)), capacity_(capacity) {}
  ~Batch() { llama_batch_free(batch_); }
  Batch(const Batch&) = delete;
  Batch& operator=(const Batch&) = delete;

  // all_logits: logits at every position, else at the last one only.
  const llama_batch& fill(const std::vector<llama_token>& tokens, int first_pos, bool all_logits = false) {
    if (static_cast<int>(tokens.size()) > capacity_) die("batch overflow");
    batch_.n_tokens = static_cast<int32_t>(tokens.size());
    for (size_t i = 0; i < tokens.size(); ++i) {
      batch_.token[i] = tokens[i];
      batch_.pos[i] = first_pos + static_cast<llama_pos>(i);
      batch_.n_seq_id[i] = 1;
      batch_.seq_id[i][0] = 0;
      batch_.logits[i] = all_logits || i + 1 == tokens.size();
    }
    return batch_;
  }

 private:
  llama_batch batch_;
  int capacity_;
};

llama_context* new_context(llama_model* model, const Options& o) {
  llama_context_params p = llama_context_default_params();
  p.n_ctx = static_cast<uint32_t>((o.prompt_tokens + o.decode_tokens + 8 + 255) / 256 * 256);
  p.n_batch = p.n_ubatch = static_cast<uint32_t>(o.prompt_tokens);  // the whole prompt in one batch
  p.n_threads = p.n_threads_batch = o.threads;
  // An oracle keeps keys and values unrounded, and avoids the CPU flash attention, which rounds
  // (measured: 2.6e-3 of the logit range on a float32 file).
  if (o.logits_mode) {
    p.type_k = p.type_v = GGML_TYPE_F32;
    p.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
  }
  llama_context* ctx = llama_init_from_model(model, p);
  if (!ctx) die("cannot create a llama.cpp context");
  return ctx;
}

// Runs tokens from first_pos and returns the seconds llama_decode took.
double decode(llama_context* ctx, Batch& batch, const std::vector<llama_token>& tokens, int first_pos,
              bool all_logits = false) {
  const llama_batch& b = batch.fill(tokens, first_pos, all_logits);
  const double start = now_seconds();
  const int rc = llama_decode(ctx, b);
  const double seconds = now_seconds() - start;
  if (rc != 0) die("llama_decode returned " + std::to_string(rc) + " at position " + std::to_string(first_pos));
  return seconds;
}

llama_token argmax_last(llama_context* ctx, int n_vocab) {
  const float* logits = llama_get_logits_ith(ctx, -1);
  return static_cast<llama_token>(std::max_element(logits, logits + n_vocab) - logits);
}

void write_floats(const std::string& path, const std::vector<float>& values) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f || std::fwrite(values.data(), sizeof(float), values.size(), f) != values.size() || std::fclose(f) != 0) {
    die("cannot write '" + path + "'");
  }
}

// llama.cpp's ids for the text of a file, special tokens added as the vocabulary says.
std::vector<llama_token> tokenize_file(const llama_vocab* vocab, const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) die("cannot read '" + path + "'");
  std::string text;
  char buffer[4096];
  for (size_t n; (n = std::fread(buffer, 1, sizeof buffer, f)) > 0;) text.append(buffer, n);
  std::fclose(f);
  std::vector<llama_token> ids(text.size() + 8);
  const int n = llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), ids.data(),
                               static_cast<int32_t>(ids.size()), /*add_special=*/true, /*parse_special=*/false);
  if (n < 0) die("llama_tokenize needs " + std::to_string(-n) + " tokens");
  ids.resize(n);
  return ids;
}

std::string json_ids(const std::vector<llama_token>& ids) {
  std::string text = "[";
  for (size_t i = 0; i < ids.size(); ++i) text += (i ? "," : "") + std::to_string(ids[i]);
  return text + "]";
}

// The `logits` mode: every position's logits of the tokens, then a greedy continuation.
int run_logits(llama_model* model, const llama_vocab* vocab, int n_vocab, const Options& o) {
  const std::vector<llama_token> prompt(o.tokens.begin(), o.tokens.end());
  for (auto id : prompt) {
    if (id >= n_vocab) die("token " + std::to_string(id) + " is beyond the vocab of " + std::to_string(n_vocab));
  }
  Batch batch(o.prompt_tokens);
  llama_context* ctx = new_context(model, o);
  decode(ctx, batch, prompt, 0, /*all_logits=*/true);
  std::vector<float> logits;
  for (int i = 0; i < o.prompt_tokens; ++i) {
    const float* row = llama_get_logits_ith(ctx, i);
    logits.insert(logits.end(), row, row + n_vocab);
  }
  write_floats(o.logits_out, logits);
  std::vector<llama_token> greedy;
  for (int pos = o.prompt_tokens; static_cast<int>(greedy.size()) < o.greedy; ++pos) {
    greedy.push_back(argmax_last(ctx, n_vocab));
    if (static_cast<int>(greedy.size()) < o.greedy) decode(ctx, batch, {greedy.back()}, pos);
  }
  const std::string tokenized = o.text_file.empty() ? "null" : json_ids(tokenize_file(vocab, o.text_file));
  std::printf("{\"n_vocab\":%d,\"greedy\":%s,\"tokenized\":%s,\"llama_cpp\":\"%s\"}\n", n_vocab, json_ids(greedy).c_str(),
              tokenized.c_str(), llama_version());
  llama_free(ctx);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  llama_log_set(log_filter, &o.verbose);
  llama_backend_init();
  ggml_backend_load_all_from_path(LLAMA_PEER_LIB_DIR);
  if (ggml_backend_dev_count() == 0) die("no ggml backend loaded from " LLAMA_PEER_LIB_DIR);
  std::fprintf(stderr, "[llama_peer] llama.cpp %s, %s\n", llama_version(), llama_print_system_info());

  llama_model_params mp = llama_model_default_params();
  mp.n_gpu_layers = 0;
  mp.load_mode = LLAMA_LOAD_MODE_MMAP;
  const double load_start = now_seconds();
  llama_model* model = llama_model_load_from_file(o.model.c_str(), mp);
  const double load_seconds = now_seconds() - load_start;
  if (!model) die("cannot load '" + o.model + "'");
  const llama_vocab* vocab = llama_model_get_vocab(model);
  const int n_vocab = llama_vocab_n_tokens(vocab);
  if (n_vocab < 4) die("vocab of " + std::to_string(n_vocab) + " tokens");
  if (o.logits_mode) {
    const int rc = run_logits(model, vocab, n_vocab, o);
    llama_model_free(model);
    llama_backend_free();
    return rc;
  }

  // Any valid ids: BOS, then a stride through the vocabulary.
  std::vector<llama_token> prompt(o.prompt_tokens);
  for (int i = 0; i < o.prompt_tokens; ++i) prompt[i] = 3 + static_cast<llama_token>((i * 7919LL) % (n_vocab - 3));
  if (llama_vocab_bos(vocab) >= 0) prompt[0] = llama_vocab_bos(vocab);
  Batch batch(o.prompt_tokens);

  // Warm-up on a throwaway context: faults the mapped weights in, builds ggml's thread pool.
  {
    llama_context* warm = new_context(model, o);
    const std::vector<llama_token> head(prompt.begin(), prompt.begin() + std::min(8, o.prompt_tokens));
    decode(warm, batch, head, 0);
    decode(warm, batch, {argmax_last(warm, n_vocab)}, static_cast<int>(head.size()));
    llama_free(warm);
  }

  llama_context* ctx = new_context(model, o);
  const double prompt_seconds = decode(ctx, batch, prompt, 0);
  if (!o.logits_out.empty()) {
    FILE* f = std::fopen(o.logits_out.c_str(), "wb");
    const float* logits = llama_get_logits_ith(ctx, -1);
    if (!f || std::fwrite(logits, sizeof(float), n_vocab, f) != static_cast<size_t>(n_vocab) || std::fclose(f) != 0) {
      die("cannot write '" + o.logits_out + "'");
    }
  }
  int pos = o.prompt_tokens;
  decode(ctx, batch, {argmax_last(ctx, n_vocab)}, pos++);  // untimed first step
  double decode_seconds = 0;
  for (int i = 0; i < o.decode_tokens; ++i) decode_seconds += decode(ctx, batch, {argmax_last(ctx, n_vocab)}, pos++);

  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::printf(
      "{\"prompt_tokens_per_sec\":%.3f,\"decode_tokens_per_sec\":%.3f,\"peak_rss_bytes\":%lld,\"load_seconds\":%.3f,"
      "\"prompt_tokens\":%d,\"decode_tokens\":%d,\"threads\":%d,\"llama_cpp\":\"%s\"}\n",
      o.prompt_tokens / prompt_seconds, o.decode_tokens / decode_seconds, static_cast<long long>(usage.ru_maxrss) * 1024,
      load_seconds, o.prompt_tokens, o.decode_tokens, o.threads, llama_version());
  llama_free(ctx);
  llama_model_free(model);
  llama_backend_free();
  return 0;
}
