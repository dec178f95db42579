#include "unicode/normalize.h"

#include <utf8proc.h>

#include <algorithm>
#include <cstdlib>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/error.h"
#include "unicode/utf8.h"

namespace flotilla::unicode {

namespace {

// UTF-8 lead bytes below this start code points below U+0300, which are all stable starters.
constexpr unsigned char kFirstUnstableLead = 0xCC;

// Whether NFC could change cp or join it to the character before: a non-zero combining class, a
// canonical decomposition, the second half of a composition (utf8proc marks those with bit 15 of
// comb_index), or a Hangul vowel or trailing consonant jamo (composed by formula).
bool maybe_unstable(char32_t cp) {
  if ((cp >= 0x1161 && cp <= 0x1175) || (cp >= 0x11A8 && cp <= 0x11C2)) return true;
  const utf8proc_property_t* p = utf8proc_get_property(static_cast<utf8proc_int32_t>(cp));
  const bool canonical_decomposition = p->decomp_seqindex != UINT16_MAX && p->decomp_type == 0;
  const bool second_of_pair = p->comb_index != UINT16_MAX && (p->comb_index & 0x8000);
  return p->combining_class != 0 || canonical_decomposition || second_of_pair;
}

// Code points below this are looked up in a bit table built once from utf8proc's data.
constexpr char32_t kTableLimit = 0x30000;

bool unstable(char32_t cp) {
  static const std::vector<uint64_t> bits = [] {
    std::vector<uint64_t> table(kTableLimit / 64, 0);
    for (char32_t c = 0x300; c < kTableLimit; ++c)
      if (maybe_unstable(c)) table[c / 64] |= uint64_t{1} << (c % 64);
    return table;
  }();
  return cp < kTableLimit ? (bits[cp / 64] >> (cp % 64)) & 1 : maybe_unstable(cp);
}

// Where the first character that is not a stable starter begins (text.size() if none).
size_t first_unstable(std::string_view text) {
  for (size_t pos = 0; pos < text.size();) {
    if (static_cast<unsigned char>(text[pos]) < kFirstUnstableLead) {
      pos += char_length(text, pos);
      continue;
    }
    size_t after = pos;
    if (unstable(next(text, after))) return pos;
    pos = after;
  }
  return text.size();
}

// Canonical decomposition and ordering done here (a stable sort of each run of non-starters,
// O(n log n): utf8proc's own ordering is quadratic in the run length, which hostile text makes
// long), then utf8proc composes text already in order.
std::string canonically_ordered(std::string_view text) {
  std::u32string chars;
  chars.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    utf8proc_int32_t parts[32];
    int boundclass = 0;
    const auto n = utf8proc_decompose_char(static_cast<utf8proc_int32_t>(next(text, pos)), parts, 32,
                                           UTF8PROC_DECOMPOSE, &boundclass);
    if (n < 0 || n > 32) fail("unicode", "NFC failed: {}", n < 0 ? utf8proc_errmsg(n) : "decomposition too long");
    chars.append(parts, parts + n);
  }
  const auto ccc = [](char32_t c) { return utf8proc_get_property(static_cast<utf8proc_int32_t>(c))->combining_class; };
  for (size_t i = 0; i < chars.size();) {
    size_t end = i;
    while (end < chars.size() && ccc(chars[end]) != 0) ++end;
    if (end - i > 1) std::stable_sort(chars.begin() + i, chars.begin() + end, [&](char32_t a, char32_t b) { return ccc(a) < ccc(b); });
    i = end == i ? i + 1 : end;
  }
  return encode(chars);
}

std::string normalize_piece(std::string_view raw) {
  const std::string text = canonically_ordered(raw);
  utf8proc_uint8_t* out = nullptr;
  const auto length = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                                   static_cast<utf8proc_ssize_t>(text.size()), &out, utf8proc_option_t(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owned(out, &std::free);
  if (length < 0) fail("unicode", "NFC failed: {}", utf8proc_errmsg(length));
  return std::string(reinterpret_cast<const char*>(out), static_cast<size_t>(length));
}

// Text normalizes piece by piece between stable starters (UAX #15, section 9): only the pieces
// around unstable characters go through utf8proc; `pos` is the first unstable one. U+11A7 is a
// stable starter, so it never sits inside a piece: utf8proc 2.8 would compose it after an LV
// syllable as if it were a trailing consonant and drop it (the golden case "hangul U+11A7").
std::string normalize_from(std::string_view text, size_t pos) {
  std::string out;
  out.reserve(text.size() + 16);
  size_t copied = 0;  // text[0, copied) is in out
  size_t piece = pos;  // the last stable starter before pos (the character before it, if any)
  if (piece > 0) {
    --piece;
    while (piece > 0 && (static_cast<unsigned char>(text[piece]) & 0xC0) == 0x80) --piece;
  }
  while (pos < text.size()) {
    size_t after = pos;
    bool stable = true;
    if (static_cast<unsigned char>(text[pos]) < kFirstUnstableLead) after += char_length(text, pos);
    else stable = !unstable(next(text, after));
    if (stable) {
      piece = pos;
      pos = after;
      continue;
    }
    size_t end = after;  // extend to the next stable starter
    while (end < text.size()) {
      size_t following = end;
      if (static_cast<unsigned char>(text[end]) < kFirstUnstableLead || !unstable(next(text, following))) break;
      end = following;
    }
    out.append(text.substr(copied, piece - copied));
    out += normalize_piece(text.substr(piece, end - piece));
    copied = piece = pos = end;
  }
  out.append(text.substr(copied));
  return out;
}

}  // namespace

std::string nfc(std::string_view text) {
  const size_t pos = first_unstable(text);
  return pos == text.size() ? std::string(text) : normalize_from(text, pos);
}

void nfc_in_place(std::string& text) {
  const size_t pos = first_unstable(text);
  if (pos != text.size()) text = normalize_from(text, pos);
}

const char* version() { return utf8proc_unicode_version(); }

}  // namespace flotilla::unicode
