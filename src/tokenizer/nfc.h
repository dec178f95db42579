// Unicode Normalization Form C (UAX #15): canonical decomposition, canonical ordering by
// combining class, canonical composition (minus the composition exclusions), Hangul by formula.
// The data is generated from one Unicode version (nfc_tables.cpp; kUnicodeVersion); characters
// assigned after it pass through unchanged. Hugging Face's NFC normalizer gives the same result
// for every character both versions know (normalization stability).
#pragma once
#include <string>
#include <string_view>

namespace flotilla::nfc {

// NFC of valid UTF-8 text (not re-checked).
std::string normalize(std::string_view text);

// The same in place; text that is NFC by the quick check (the usual case) is not copied.
void normalize_in_place(std::string& text);

// The Unicode version of the tables, e.g. "14.0.0".
const char* unicode_version();

}  // namespace flotilla::nfc
