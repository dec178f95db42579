// NFC against Python's unicodedata (golden files written by golden/gen_nfc_golden.py): named
// tricky strings, probes built from every code point, every Hangul syllable; then the NFC
// normalizer inside tokenizers (Qwen2.5 encodes NFD text like its NFC form, as Hugging Face does).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <tuple>

#include "support/fixture_files.h"
#include "support/paths.h"
#include "unicode/normalize.h"
#include "flotilla/tokenizer.h"
#include "unicode/utf8.h"

namespace flotilla {
namespace {

namespace fs = std::filesystem;
using Ids = std::vector<int64_t>;
using Json = nlohmann::json;

fs::path golden_dir() { return fs::path(FLOTILLA_SOURCE_DIR) / "tests" / "tokenizer" / "golden"; }

using test::read_file;

const Json& cases() {
  static const Json json = Json::parse(read_file(golden_dir() / "nfc_cases.json"));
  return json;
}

std::string hex(std::string_view text) {
  std::string out;
  for (size_t pos = 0; pos < text.size();) out += fmt::format("{}{:X}", out.empty() ? "" : " ", static_cast<uint32_t>(unicode::next(text, pos)));
  return out;
}

std::string from_code_points(const std::vector<char32_t>& code_points) {
  std::string out;
  for (const char32_t cp : code_points) unicode::append(out, cp);
  return out;
}

std::string from_hex(const std::string& list) {
  std::vector<char32_t> code_points;
  std::istringstream in(list);
  for (std::string word; in >> word;) code_points.push_back(static_cast<char32_t>(std::stoul(word, nullptr, 16)));
  return from_code_points(code_points);
}

// utf8proc's data may be newer than Python's here; normalization stability makes every character
// both versions assign normalize alike, so only code points the golden's version leaves
// unassigned are exempt (EveryCodePointMatchesPython).
std::string golden_version() { return cases().at("unicode_version").get<std::string>(); }

TEST(Nfc, LibraryUnicodeIsNoOlderThanTheGolden) {
  EXPECT_NE(read_file(golden_dir() / "nfc_code_points.txt").find("Unicode " + golden_version()), std::string::npos);
  const auto numbers = [](const std::string& v) {
    std::vector<int> parts;
    std::istringstream in(v);
    for (std::string part; std::getline(in, part, '.');) parts.push_back(std::stoi(part));
    return parts;
  };
  EXPECT_GE(numbers(unicode::version()), numbers(golden_version()))
      << "utf8proc's Unicode " << unicode::version() << " is older than the golden's " << golden_version();
  std::printf("[ nfc ] utf8proc Unicode %s, golden (Python unicodedata) %s\n", unicode::version(),
              golden_version().c_str());
}

TEST(Nfc, NamedCasesMatchPython) {
  size_t checked = 0, matched = 0;
  for (const Json& entry : cases().at("cases")) {
    const std::string name = entry.at("name");
    const std::string expected = entry.at("nfc");
    for (const char* key : {"input", "nfc", "nfd"}) {
      const std::string input = entry.at(key);
      const std::string got = unicode::nfc(input);
      EXPECT_EQ(hex(got), hex(expected)) << name << " (" << key << ")";
      std::string in_place = input;
      unicode::nfc_in_place(in_place);
      EXPECT_EQ(hex(in_place), hex(expected)) << name << " (" << key << ", in place)";
      ++checked;
      matched += got == expected;
    }
  }
  std::printf("[ nfc ] %zu/%zu strings (input, NFC and NFD forms of %zu cases) match Python's unicodedata %s\n",
              matched, checked, cases().at("cases").size(), golden_version().c_str());
}

// Every code point c in the probes c, c U+0301 and U+0061 c, plus the NFD of every decomposable
// character; the golden lists only the probes NFC changes.
TEST(Nfc, EveryCodePointMatchesPython) {
  std::map<std::string, std::map<char32_t, std::string>> changed;  // probe -> code point -> NFC
  std::vector<std::tuple<char32_t, std::string, std::string>> decomposed;  // code point, NFD, NFC
  std::istringstream golden(read_file(golden_dir() / "nfc_code_points.txt"));
  std::vector<std::pair<char32_t, char32_t>> unassigned;  // in the golden's Unicode version
  for (std::string line; std::getline(golden, line);) {
    if (line.empty() || line[0] == '#') continue;
    if (line.rfind("unassigned ", 0) == 0) {
      std::istringstream range(line.substr(11));
      std::string first, last;
      range >> first >> last;
      unassigned.emplace_back(std::stoul(first, nullptr, 16), std::stoul(last, nullptr, 16));
      continue;
    }
    // "<probe> <code point> : <input code points> : <output code points>", input empty but for nfd.
    std::istringstream fields(line);
    std::string probe, cp_hex, word;
    fields >> probe >> cp_hex >> word;
    ASSERT_EQ(word, ":") << line;
    std::string lists[2];
    for (int part = 0; part < 2 && fields >> word;) {
      if (word == ":") {
        ++part;
      } else {
        lists[part] += word + " ";
      }
    }
    const auto cp = static_cast<char32_t>(std::stoul(cp_hex, nullptr, 16));
    const std::string input = from_hex(lists[0]), output = from_hex(lists[1]);
    ASSERT_FALSE(output.empty()) << line;
    if (probe == "nfd") {
      decomposed.emplace_back(cp, input, output);
    } else {
      changed[probe][cp] = output;
    }
  }
  ASSERT_EQ(changed.size(), 3u);
  ASSERT_GT(decomposed.size(), 2000u);

  const std::map<std::string, std::function<std::string(const std::string&)>> probes = {
      {"single", [](const std::string& c) { return c; }},
      {"acute", [](const std::string& c) { return c + "\u0301"; }},
      {"after_a", [](const std::string& c) { return "a" + c; }}};
  ASSERT_GT(unassigned.size(), 100u);
  const bool newer_library = golden_version() != unicode::version();
  const auto exempt = [&](char32_t cp) {
    if (!newer_library) return false;
    for (const auto& [first, last] : unassigned)
      if (cp >= first && cp <= last) return true;
    return false;
  };
  size_t checked = 0, failures = 0, exempted = 0;
  const auto check = [&](const std::string& what, const std::string& input, const std::string& expected) {
    ++checked;
    const std::string got = unicode::nfc(input);
    if (got != expected && ++failures <= 20) {
      ADD_FAILURE() << what << ": NFC of [" << hex(input) << "] expected [" << hex(expected) << "] got [" << hex(got)
                    << "]";
    }
  };
  for (const auto& [name, build] : probes) {
    const auto& listed = changed.at(name);
    for (char32_t cp = 0; cp <= 0x10FFFF; ++cp) {
      if (cp >= 0xD800 && cp <= 0xDFFF) continue;
      if (exempt(cp)) {
        ++exempted;
        continue;
      }
      const std::string input = build(from_code_points({cp}));
      const auto it = listed.find(cp);
      check(fmt::format("{} U+{:04X}", name, static_cast<uint32_t>(cp)), input, it == listed.end() ? input : it->second);
    }
  }
  for (const auto& [cp, input, expected] : decomposed) {
    check(fmt::format("nfd U+{:04X}", static_cast<uint32_t>(cp)), input, expected);
  }
  // Hangul syllables from their jamo (The Unicode Standard, 3.12): L V [T] composes back.
  for (char32_t s = 0; s < 11172; ++s) {
    std::vector<char32_t> jamo = {0x1100 + s / 588, 0x1161 + (s % 588) / 28};
    if (s % 28 != 0) jamo.push_back(0x11A7 + s % 28);
    const std::string syllable = from_code_points({0xAC00 + s});
    check("hangul", from_code_points(jamo), syllable);
    jamo.push_back(0x0301);
    check("hangul + mark", "x" + from_code_points(jamo), "x" + syllable + "\u0301");
  }
  EXPECT_EQ(failures, 0u);
  std::printf("[ nfc ] %zu probes over every code point and Hangul syllable, %zu differ from Python; %zu probes of "
              "code points unassigned in Unicode %s not compared\n",
              checked, failures, exempted, golden_version().c_str());
}

TEST(Nfc, LeavesNfcTextAloneAndKeepsLongInputsLinear) {
  const std::string nfc_text = "Hello, wörld! 今日は 한국어 😀 Ελληνικά";
  EXPECT_EQ(unicode::nfc(nfc_text), nfc_text);
  std::string big;
  for (int i = 0; i < 20000; ++i) big += "Vie\u0302\u0323t 한국어 e\u0301\u0301\u0323 ";
  const std::string expected_unit = "Vi\u1ec7t 한국어 \u1eb9\u0301\u0301 ";
  std::string expected;
  for (int i = 0; i < 20000; ++i) expected += expected_unit;
  EXPECT_EQ(unicode::nfc(big), expected);
  // 800 KB of marks with no starter at all is one piece, sorted stably in O(n log n).
  std::string marks;
  for (int i = 0; i < 200000; ++i) marks += "\u0301\u0323";
  std::string sorted;
  for (int i = 0; i < 200000; ++i) sorted += "\u0323";
  for (int i = 0; i < 200000; ++i) sorted += "\u0301";
  EXPECT_EQ(unicode::nfc(marks), sorted);
}

const Tokenizer& load(const std::string& name) {
  static std::map<std::string, Tokenizer> cache;
  auto it = cache.find(name);
  if (it == cache.end()) {
    it = cache.emplace(name, Tokenizer::from_dir((test::shared_dir() / "tokenizers" / name).string())).first;
  }
  return it->second;
}

std::string show(const Ids& ids) {
  std::string text;
  for (const int64_t id : ids) text += " " + std::to_string(id);
  return text;
}

// Qwen2.5 declares an NFC normalizer: decomposed and composed text give the same ids.
TEST(Nfc, Qwen25EncodesNfdTextLikeItsNfcForm) {
  const Tokenizer& qwen = load("qwen2.5-0.5b-instruct");
  size_t decomposed_cases = 0;
  for (const Json& entry : cases().at("cases")) {
    const std::string name = entry.at("name"), nfc_form = entry.at("nfc"), nfd_form = entry.at("nfd");
    const Ids expected = qwen.encode(nfc_form, false);
    EXPECT_EQ(qwen.encode(nfd_form, false), expected) << name << "\n  NFC:" << show(expected) << "\n  NFD:"
                                                      << show(qwen.encode(nfd_form, false));
    EXPECT_EQ(qwen.encode(entry.at("input").get<std::string>(), false), expected) << name;
    decomposed_cases += nfd_form != nfc_form;
  }
  EXPECT_GE(decomposed_cases, 35u);
  // Its chat special tokens still match after normalization.
  EXPECT_EQ(qwen.encode("<|im_start|>cafe\u0301<|im_end|>", false), qwen.encode("<|im_start|>caf\u00e9<|im_end|>", false));

  // Llama-3.2 declares no normalizer: there the two forms differ, as in Hugging Face.
  const Tokenizer& llama3 = load("llama-3.2");
  EXPECT_NE(llama3.encode("cafe\u0301", false), llama3.encode("caf\u00e9", false));
}

TEST(Nfc, NormalizedAddedTokensMatchTheirNfcForm) {
  const Json tokenizer = {
      {"version", "1.0"},
      {"added_tokens", {{{"id", 3}, {"content", "e\u0301!"}, {"normalized", true}, {"special", false}}}},
      {"normalizer", {{"type", "Sequence"}, {"normalizers", {{{"type", "NFC"}}}}}},
      {"pre_tokenizer", nullptr},
      {"post_processor", nullptr},
      {"decoder", nullptr},
      {"model", {{"type", "BPE"}, {"vocab", {{"a", 0}, {"\u00e9", 1}, {"!", 2}}}, {"merges", Json::array()}, {"unk_token", nullptr}}}};
  const Tokenizer bpe = Tokenizer::from_json_text(tokenizer.dump());
  EXPECT_EQ(bpe.encode("ae\u0301"), (Ids{0, 1}));
  EXPECT_EQ(bpe.encode("a\u00e9!"), (Ids{0, 3}));    // the token's content is matched in NFC
  EXPECT_EQ(bpe.encode("ae\u0301!"), (Ids{0, 3}));
}

}  // namespace
}  // namespace flotilla
