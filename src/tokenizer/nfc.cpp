#include "tokenizer/nfc.h"

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "tokenizer/nfc_tables.h"
#include "tokenizer/utf8.h"

namespace flotilla::nfc {

namespace {

// Hangul syllables by formula (The Unicode Standard, section 3.12 "Conjoining Jamo Behavior").
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28;
constexpr char32_t kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

// Every code point from here on is a stable starter (the generator checks it).
constexpr char32_t kQuickCheckLimit = 0x30000;
// UTF-8 lead bytes below this start code points below U+0300, which are all stable starters.
constexpr unsigned char kFirstUnstableLead = 0xCC;

uint64_t pair_key(char32_t first, char32_t second) { return (static_cast<uint64_t>(first) << 21) | second; }

struct Tables {
  // A bit per code point that is not a stable starter: a non-zero combining class, a
  // decomposition NFC does not keep (singletons, exclusions) or the second half of a composition.
  // Text splits into pieces that normalize independently at stable starters (UAX #15, section 9).
  std::vector<uint64_t> unstable;
  std::vector<std::pair<uint64_t, char32_t>> compositions;  // pair_key(first, second) -> composite, sorted

  Tables() : unstable(kQuickCheckLimit / 64, 0) {
    const auto mark = [&](char32_t cp) { unstable[cp / 64] |= uint64_t{1} << (cp % 64); };
    for (size_t i = 0; i < kCombiningClassCount; ++i) {
      for (char32_t cp = kCombiningClasses[i].first; cp <= kCombiningClasses[i].last; ++cp) mark(cp);
    }
    const char32_t* exclusions_end = kCompositionExclusions + kCompositionExclusionCount;
    for (size_t i = 0; i < kDecompositionCount; ++i) {
      const Decomposition& d = kDecompositions[i];
      if (d.second == 0 || std::binary_search(kCompositionExclusions, exclusions_end, d.code_point)) {
        mark(d.code_point);
      } else {
        compositions.emplace_back(pair_key(d.first, d.second), d.code_point);
        mark(d.second);
      }
    }
    for (char32_t cp = kVBase; cp < kVBase + kVCount; ++cp) mark(cp);
    for (char32_t cp = kTBase + 1; cp < kTBase + kTCount; ++cp) mark(cp);
    std::sort(compositions.begin(), compositions.end());
  }
};

const Tables& tables() {
  static const Tables instance;
  return instance;
}

bool stable(const Tables& t, char32_t cp) {
  return cp >= kQuickCheckLimit || ((t.unstable[cp / 64] >> (cp % 64)) & 1) == 0;
}

uint8_t combining_class(char32_t cp) {
  if (cp < 0x300) return 0;
  const CombiningRange* end = kCombiningClasses + kCombiningClassCount;
  const CombiningRange* it =
      std::upper_bound(kCombiningClasses, end, cp, [](char32_t c, const CombiningRange& r) { return c < r.first; });
  if (it == kCombiningClasses) return 0;
  --it;
  return cp <= it->last ? it->combining_class : 0;
}

struct Char {
  char32_t cp;
  uint8_t combining_class;
};

void decompose(char32_t cp, std::vector<Char>& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const char32_t index = cp - kSBase;
    out.push_back({kLBase + index / kNCount, 0});
    out.push_back({kVBase + (index % kNCount) / kTCount, 0});
    if (index % kTCount != 0) out.push_back({kTBase + index % kTCount, 0});
    return;
  }
  const Decomposition* end = kDecompositions + kDecompositionCount;
  const Decomposition* it = std::lower_bound(kDecompositions, end, cp,
                                             [](const Decomposition& d, char32_t c) { return d.code_point < c; });
  if (it == end || it->code_point != cp) {
    out.push_back({cp, combining_class(cp)});
    return;
  }
  decompose(it->first, out);
  if (it->second != 0) decompose(it->second, out);
}

// The primary composite of a pair, or 0.
char32_t compose(const Tables& t, char32_t first, char32_t second) {
  if (first >= kLBase && first < kLBase + kLCount && second >= kVBase && second < kVBase + kVCount) {
    return kSBase + ((first - kLBase) * kVCount + (second - kVBase)) * kTCount;
  }
  if (first >= kSBase && first < kSBase + kSCount && (first - kSBase) % kTCount == 0 && second > kTBase &&
      second < kTBase + kTCount) {
    return first + (second - kTBase);
  }
  const uint64_t key = pair_key(first, second);
  const auto it = std::lower_bound(t.compositions.begin(), t.compositions.end(), key,
                                   [](const std::pair<uint64_t, char32_t>& p, uint64_t k) { return p.first < k; });
  return it != t.compositions.end() && it->first == key ? it->second : 0;
}

// Full NFC of a piece that starts at a stable starter (or at the text start) and ends before one.
void normalize_piece(const Tables& t, std::string_view piece, std::vector<Char>& chars, std::string& out) {
  chars.clear();
  for (size_t pos = 0; pos < piece.size();) decompose(utf8::next(piece, pos), chars);

  // Canonical ordering: a stable sort of each run of non-starters by combining class (insertion
  // sort for the usual short runs, O(n log n) for long ones, which only hostile text has).
  const auto by_class = [](const Char& a, const Char& b) { return a.combining_class < b.combining_class; };
  for (size_t begin = 0; begin < chars.size();) {
    if (chars[begin].combining_class == 0) {
      ++begin;
      continue;
    }
    size_t end = begin + 1;
    while (end < chars.size() && chars[end].combining_class != 0) ++end;
    if (end - begin > 16) {
      std::stable_sort(chars.begin() + begin, chars.begin() + end, by_class);
    } else {
      for (size_t i = begin + 1; i < end; ++i) {
        for (size_t j = i; j > begin && by_class(chars[j], chars[j - 1]); --j) std::swap(chars[j - 1], chars[j]);
      }
    }
    begin = end;
  }

  // Canonical composition: each character joins the last starter unless a character between
  // them has a combining class of 0 or at least its own (it is "blocked").
  if (!chars.empty()) {
    size_t starter = 0;
    int last_class = chars[0].combining_class == 0 ? 0 : 256;  // a leading non-starter blocks
    size_t kept = 1;
    for (size_t i = 1; i < chars.size(); ++i) {
      const Char c = chars[i];
      if (last_class < c.combining_class || last_class == 0) {
        if (const char32_t composite = compose(t, chars[starter].cp, c.cp)) {
          chars[starter].cp = composite;
          continue;
        }
      }
      if (c.combining_class == 0) starter = kept;
      last_class = c.combining_class;
      chars[kept++] = c;
    }
    chars.resize(kept);
  }
  for (const Char& c : chars) utf8::append(out, c.cp);
}

// Byte offset of the first character that is not a stable starter, or text.size().
size_t first_unstable(const Tables& t, std::string_view text) {
  for (size_t pos = 0; pos < text.size();) {
    if (static_cast<unsigned char>(text[pos]) < kFirstUnstableLead) {
      ++pos;  // a byte of a code point below U+0300 (continuation bytes are below 0xC0)
      continue;
    }
    size_t next = pos;
    if (!stable(t, utf8::next(text, next))) return pos;
    pos = next;
  }
  return text.size();
}

// NFC of text whose first character that is not a stable starter is at pos.
std::string normalize_from(const Tables& t, std::string_view text, size_t pos) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  std::vector<Char> chars;
  size_t copied = 0;  // text[0, copied) is in out
  // The current piece starts at the last stable starter: here the character before pos, if any.
  size_t piece = pos;
  if (piece > 0) {
    --piece;
    while (piece > 0 && (static_cast<unsigned char>(text[piece]) & 0xC0) == 0x80) --piece;
  }
  while (pos < text.size()) {
    if (static_cast<unsigned char>(text[pos]) < 0x80) {
      piece = pos++;
      continue;
    }
    size_t next = pos;
    const char32_t cp = utf8::next(text, next);
    if (stable(t, cp)) {
      piece = pos;
      pos = next;
      continue;
    }
    // Extend the piece to the next stable starter, then normalize it as a whole.
    size_t end = next;
    while (end < text.size()) {
      size_t after = end;
      if (stable(t, utf8::next(text, after))) break;
      end = after;
    }
    out.append(text.substr(copied, piece - copied));
    normalize_piece(t, text.substr(piece, end - piece), chars, out);
    copied = piece = pos = end;
  }
  out.append(text.substr(copied));
  return out;
}

}  // namespace

std::string normalize(std::string_view text) {
  const Tables& t = tables();
  const size_t pos = first_unstable(t, text);
  return pos == text.size() ? std::string(text) : normalize_from(t, text, pos);
}

void normalize_in_place(std::string& text) {
  const Tables& t = tables();
  const size_t pos = first_unstable(t, text);
  if (pos != text.size()) text = normalize_from(t, text, pos);
}

const char* unicode_version() { return kUnicodeVersion; }

}  // namespace flotilla::nfc
