// The Unicode data behind NFC, generated into nfc_tables.cpp by gen_unicode_nfc.py (see there).
#pragma once
#include <cstddef>
#include <cstdint>

namespace flotilla::nfc {

struct CombiningRange {
  char32_t first, last;
  uint8_t combining_class;
};

struct Decomposition {
  char32_t code_point, first, second;  // second is 0 for a singleton
};

extern const char* const kUnicodeVersion;
extern const CombiningRange kCombiningClasses[];
extern const size_t kCombiningClassCount;
extern const Decomposition kDecompositions[];
extern const size_t kDecompositionCount;
extern const char32_t kCompositionExclusions[];
extern const size_t kCompositionExclusionCount;

}  // namespace flotilla::nfc
