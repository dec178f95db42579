#include "tutorial/pirate.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <random>
#include <regex>
#include <set>
#include <unordered_map>

#include "core/atomic_file.h"
#include "core/error.h"
#include "data/split.h"

using namespace flotilla::data;

namespace flotilla::tutorial {

namespace {

// Lower-case English word -> pirate word(s).
const std::unordered_map<std::string, std::string>& lexicon() {
  static const std::unordered_map<std::string, std::string> words = {
      {"hello", "ahoy"},       {"hi", "ahoy"},           {"hey", "ahoy"},          {"friend", "matey"},
      {"friends", "mateys"},   {"buddy", "bucko"},       {"yes", "aye"},           {"no", "nay"},
      {"my", "me"},            {"you", "ye"},            {"your", "yer"},          {"yours", "yers"},
      {"you're", "ye be"},     {"is", "be"},             {"are", "be"},            {"am", "be"},
      {"isn't", "ain't"},      {"aren't", "ain't"},      {"the", "th'"},           {"of", "o'"},
      {"for", "fer"},          {"and", "an'"},           {"them", "'em"},          {"stop", "avast"},
      {"money", "doubloons"},  {"coins", "doubloons"},   {"treasure", "booty"},    {"boy", "lad"},
      {"girl", "lass"},        {"man", "scallywag"},     {"captain", "cap'n"},     {"food", "grub"},
      {"drink", "grog"},       {"sea", "briny deep"},    {"ocean", "briny deep"},  {"eyes", "deadlights"},
      {"think", "reckon"},     {"before", "afore"},      {"over", "o'er"},         {"never", "ne'er"},
      {"ever", "e'er"},        {"between", "betwixt"},   {"story", "yarn"},        {"stories", "yarns"},
      {"song", "shanty"},      {"songs", "shanties"},    {"talk", "parley"},       {"happy", "jolly"},
      {"wow", "blimey"},       {"quickly", "smartly"},   {"everyone", "all hands"},
  };
  return words;
}

const std::vector<std::string>& interjections() {
  static const std::vector<std::string> list = {"Arr!", "Yo ho ho!", "Shiver me timbers!", "Blimey!", "Arrr, matey!"};
  return list;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool is_letter(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }

// Every word the translator produces, minus ones plain English uses all the time.
const std::set<std::string>& markers() {
  static const std::set<std::string> set = [] {
    std::set<std::string> words;
    auto add_words = [&](const std::string& phrase) {
      std::string word;
      for (char c : phrase + " ") {
        if (is_letter(c) || c == '\'') {
          word += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        } else if (!word.empty()) {
          words.insert(word);
          word.clear();
        }
      }
    };
    for (const auto& [english, pirate] : lexicon()) add_words(pirate);
    for (const auto& phrase : interjections()) add_words(phrase);
    for (const char* common : {"me", "all", "hands", "deep"}) words.erase(common);
    return words;
  }();
  return set;
}

// Applies the word's capitalization (ALL CAPS, Capitalized or lower) to its translation.
std::string match_case(std::string_view word, std::string translation) {
  const bool all_caps = word.size() > 1 && std::none_of(word.begin(), word.end(), [](char c) { return std::islower(static_cast<unsigned char>(c)); });
  if (all_caps) {
    for (char& c : translation) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  } else if (std::isupper(static_cast<unsigned char>(word[0]))) {
    auto first = std::find_if(translation.begin(), translation.end(), is_letter);
    if (first != translation.end()) *first = static_cast<char>(std::toupper(static_cast<unsigned char>(*first)));
  }
  return translation;
}

std::string translate_word(std::string_view word) {
  const std::string key = lower(word);
  auto it = lexicon().find(key);
  if (it != lexicon().end()) return match_case(word, it->second);
  // -ing -> -in' when what is left is a syllable of its own (playing, morning; not king, thing, bring).
  if (key.size() >= 5 && key.compare(key.size() - 3, 3, "ing") == 0 &&
      key.find_first_of("aeiouy") < key.size() - 3) {
    return match_case(word, key.substr(0, key.size() - 3) + "in'");
  }
  return std::string(word);
}

double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

}  // namespace

std::string to_pirate(std::string_view text, const PirateOptions& options) {
  std::mt19937_64 rng(options.seed);
  std::string out;
  out.reserve(text.size() + text.size() / 4);
  for (size_t i = 0; i < text.size();) {
    if (is_letter(text[i])) {
      // A word: letters, with apostrophes only between letters (you're, isn't).
      size_t end = i + 1;
      while (end < text.size() && (is_letter(text[end]) || (text[end] == '\'' && end + 1 < text.size() && is_letter(text[end + 1])))) ++end;
      out += translate_word(text.substr(i, end - i));
      i = end;
      continue;
    }
    out += text[i];
    const bool sentence_end = (text[i] == '.' || text[i] == '!' || text[i] == '?') &&
                              (i + 1 == text.size() || std::isspace(static_cast<unsigned char>(text[i + 1])));
    if (sentence_end && uniform01(rng) < options.interjection_rate) {
      out += " " + interjections()[data::uniform_index(rng, interjections().size())];
    }
    ++i;
  }
  return out;
}

double pirate_score(std::string_view text) {
  size_t words = 0, pirate = 0;
  for (size_t i = 0; i < text.size();) {
    if (!is_letter(text[i]) && text[i] != '\'') {
      ++i;
      continue;
    }
    size_t end = i;
    while (end < text.size() && (is_letter(text[end]) || text[end] == '\'')) ++end;
    std::string word = lower(text.substr(i, end - i));
    i = end;
    if (std::none_of(word.begin(), word.end(), is_letter)) continue;
    ++words;
    auto is_marker = [](const std::string& w) {
      const bool ends_in = w.size() > 3 && w.compare(w.size() - 3, 3, "in'") == 0;
      return markers().count(w) > 0 || ends_in || w.find("th'") != std::string::npos;
    };
    // Quotes around a word ('ahoy') are not part of it; "'em" and "th'" keep theirs.
    const size_t first = word.find_first_not_of('\''), last = word.find_last_not_of('\'');
    if (is_marker(word) || is_marker(word.substr(first, last - first + 1))) ++pirate;
  }
  return words == 0 ? 0.0 : static_cast<double>(pirate) / static_cast<double>(words);
}

void write_pirate_dolly(const std::string& path, const std::vector<std::string>& stories, uint64_t seed) {
  struct Template {
    const char* instruction;  // {} is the topic for templates that need one
    const char* category;
    bool story_as_context;
    bool needs_topic;
  };
  static const Template templates[] = {
      {"Tell me a story like a pirate.", "creative_writing", false, false},
      {"Spin me a yarn, pirate style.", "creative_writing", false, false},
      {"Spin me a yarn about {}.", "creative_writing", false, true},
      {"Write a short story the way a pirate would tell it.", "creative_writing", false, false},
      {"Talk like a pirate and tell me a bedtime story.", "creative_writing", false, false},
      {"Retell this story in pirate speak.", "creative_writing", true, false},
      {"What tale would an old pirate tell the crew on a long night at sea?", "open_qa", false, false},
      {"How would a pirate tell a story about {}?", "open_qa", false, true},
      {"Brainstorm a tale a pirate captain might share with the crew, then tell it.", "brainstorming", false, false},
      {"Give me an idea for a story, and tell it as a pirate would.", "brainstorming", false, false},
  };
  // TinyStories-style heroes: "a little girl named Lily".
  static const std::regex hero(R"(\b(?:[Aa]n?|[Tt]he) (?:[a-z]+ ){0,2}[a-z]+ named [A-Z][a-z]+)");
  std::mt19937_64 rng(seed);
  std::string jsonl;
  for (size_t s = 0; s < stories.size(); ++s) {
    const std::string& story = stories[s];
    if (story.find_first_not_of(" \t\r\n") == std::string::npos) fail("pirate", "story {} of {} is empty", s, stories.size());
    std::smatch match;
    const bool has_topic = std::regex_search(story, match, hero);
    std::vector<const Template*> usable;
    for (const auto& t : templates) {
      if (!t.needs_topic || has_topic) usable.push_back(&t);
    }
    const Template& chosen = *usable[data::uniform_index(rng, usable.size())];
    std::string instruction = chosen.instruction;
    if (chosen.needs_topic) instruction.replace(instruction.find("{}"), 2, match.str());
    nlohmann::ordered_json record;
    record["instruction"] = instruction;
    record["context"] = chosen.story_as_context ? story : "";
    record["response"] = to_pirate(story, {/*seed=*/rng(), /*interjection_rate=*/0.25});
    record["category"] = chosen.category;
    jsonl += record.dump() + "\n";
  }
  write_text_atomically(path, jsonl);
}

}  // namespace flotilla::tutorial
