// The one Unicode module: UTF-8 decoding that agrees with sanitize (and with Python's
// bytes.decode(errors="replace"), the expected values below), and character properties as
// Python's str methods see them.
#include <gtest/gtest.h>

#include <string>

#include "unicode/properties.h"
#include "unicode/utf8.h"

namespace flotilla {
namespace {

std::u32string replacements(size_t n) { return std::u32string(n, U'\uFFFD'); }

// Each maximal ill-formed subpart is one U+FFFD: overlongs, surrogates and code points past
// U+10FFFF are ill-formed (values from Python 3: b"...".decode("utf-8", "replace")).
TEST(Utf8, DecodesIllFormedBytesAsPythonDoes) {
  EXPECT_EQ(unicode::decode("\xC0\xAF"), replacements(2));          // overlong '/'
  EXPECT_EQ(unicode::decode("\xE0\x80\xAF"), replacements(3));      // overlong, three bytes
  EXPECT_EQ(unicode::decode("\xED\xA0\x80"), replacements(3));      // surrogate U+D800
  EXPECT_EQ(unicode::decode("\xF4\x90\x80\x80"), replacements(4));  // U+110000
  EXPECT_EQ(unicode::decode("\xE2\x82"), replacements(1));          // truncated €
  EXPECT_EQ(unicode::decode("a\xE2\x82z"), U"a\uFFFDz");
  EXPECT_EQ(unicode::decode("\xF0\x9F\x98"), replacements(1));      // truncated emoji
  EXPECT_EQ(unicode::decode("\xE2\x82\xAC\xF0\x9F\x98\x80"), U"\u20AC\U0001F600");
  EXPECT_EQ(unicode::count_code_points("\xED\xA0\x80x"), 4u);
}

// decode (the chat templates' view) and sanitize (the tokenizer's) replace the same bytes, for
// every one- and two-byte string and every three-byte string starting with a multi-byte lead.
TEST(Utf8, DecodeAgreesWithSanitizeOnEveryShortByteString) {
  size_t checked = 0;
  auto check = [&](const std::string& bytes) {
    ++checked;
    const std::string via_decode = unicode::encode(unicode::decode(bytes));
    ASSERT_EQ(via_decode, unicode::sanitize(bytes));
    ASSERT_TRUE(unicode::is_valid(via_decode));
  };
  for (int a = 0; a < 256; ++a) {
    check(std::string(1, static_cast<char>(a)));
    for (int b = 0; b < 256; ++b) {
      check(std::string{static_cast<char>(a), static_cast<char>(b)});
      if (a < 0xC0) continue;
      for (int c : {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xF5, 0xFF})
        check(std::string{static_cast<char>(a), static_cast<char>(b), static_cast<char>(c)});
    }
  }
  EXPECT_EQ(checked, 256u + 256 * 256 + 64 * 256 * 12);
}

// Expected values from Python 3's str methods.
TEST(UnicodeProperties, MatchPythonStrMethods) {
  EXPECT_TRUE(unicode::is_alpha(U'é'));
  EXPECT_TRUE(unicode::is_alpha(U'Ж'));
  EXPECT_TRUE(unicode::is_alpha(U'字'));    // '字'.isalpha()
  EXPECT_FALSE(unicode::is_alpha(U'\U0001F600'));
  EXPECT_FALSE(unicode::is_alpha(U'×'));
  EXPECT_TRUE(unicode::is_decimal_digit(U'٣'));  // ARABIC-INDIC DIGIT THREE
  EXPECT_FALSE(unicode::is_decimal_digit(U'x'));
  EXPECT_TRUE(unicode::is_lower(U'ß'));
  EXPECT_TRUE(unicode::is_upper(U'Σ'));
  EXPECT_FALSE(unicode::is_upper(U'字'));
  EXPECT_EQ(unicode::to_upper(U'ÿ'), U'Ÿ');
  EXPECT_EQ(unicode::to_upper(U'ǆ'), U'Ǆ');
  EXPECT_EQ(unicode::to_lower(U'Ω'), U'ω');
  EXPECT_EQ(unicode::to_upper(U'ა'), U'\u1C90');  // Georgian Mkhedruli to Mtavruli (Unicode 11)
  EXPECT_TRUE(unicode::is_python_space(0x1C));
  EXPECT_FALSE(unicode::is_white_space(0x1C));
  EXPECT_TRUE(unicode::is_white_space(0x3000));
  EXPECT_FALSE(unicode::is_white_space(0x200B));  // zero width space is not White_Space
}

}  // namespace
}  // namespace flotilla
