// Unicode Normalization Form C (UAX #15) from utf8proc's data. Text that is NFC by a quick check
// (every code point a stable starter: the usual case) is not copied; otherwise only the pieces
// around unstable characters go through utf8proc.
#pragma once
#include <string>
#include <string_view>

namespace flotilla::unicode {

// NFC of valid UTF-8 text (not re-checked).
std::string nfc(std::string_view text);
// The same in place.
void nfc_in_place(std::string& text);
// The Unicode version of the data, e.g. "15.0.0".
const char* version();

}  // namespace flotilla::unicode
