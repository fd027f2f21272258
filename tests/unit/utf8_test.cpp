#include <doctest/doctest.h>

#include <string>

#include "protocol/utf8.hpp"

using namespace convoy::mqtt;

namespace {

std::string s(std::initializer_list<unsigned char> bytes) {
  return std::string(bytes.begin(), bytes.end());
}

}  // namespace

TEST_CASE("well-formed UTF-8 is accepted") {
  const std::string valid[] = {
      "",
      "plain ascii / with + and #",
      s({0x7F}),                    // U+007F, last 1-byte form
      s({0xC2, 0x80}),              // U+0080, first 2-byte form
      s({0xC3, 0xA9}),              // U+00E9 e acute
      s({0xDF, 0xBF}),              // U+07FF, last 2-byte form
      s({0xE0, 0xA0, 0x80}),        // U+0800, first 3-byte form
      s({0xE2, 0x82, 0xAC}),        // U+20AC euro sign
      s({0xED, 0x9F, 0xBF}),        // U+D7FF, just below the surrogates
      s({0xEE, 0x80, 0x80}),        // U+E000, just above them
      s({0xEF, 0xBB, 0xBF}),        // U+FEFF byte order mark (allowed, spec 1.5.4)
      s({0xEF, 0xBF, 0xBF}),        // U+FFFF
      s({0xF0, 0x90, 0x80, 0x80}),  // U+10000, first 4-byte form
      s({0xF0, 0x9D, 0x84, 0x9E}),  // U+1D11E musical symbol G clef
      s({0xF4, 0x8F, 0xBF, 0xBF}),  // U+10FFFF, the largest code point
      s({'a', 0xC3, 0xA9, 0xE2, 0x82, 0xAC, 0xF0, 0x9D, 0x84, 0x9E, 'z'}),
  };
  for (const auto& v : valid) {
    CAPTURE(v);
    CHECK(is_valid_mqtt_utf8(v));
    CHECK(is_valid_utf8(v));
  }
}

TEST_CASE("ill-formed UTF-8 is refused") {
  const std::string invalid[] = {
      s({0x80}),                    // continuation byte alone
      s({0xBF}),                    //
      s({0xC0, 0x80}),              // overlong U+0000
      s({0xC1, 0xBF}),              // overlong U+007F
      s({0xE0, 0x80, 0x80}),        // overlong 3-byte U+0000
      s({0xE0, 0x9F, 0xBF}),        // overlong U+07FF
      s({0xF0, 0x80, 0x80, 0x80}),  // overlong 4-byte U+0000
      s({0xF0, 0x8F, 0xBF, 0xBF}),  // overlong U+FFFF
      s({0xED, 0xA0, 0x80}),        // U+D800, high surrogate
      s({0xED, 0xAF, 0xBF}),        // U+DBFF
      s({0xED, 0xB0, 0x80}),        // U+DC00, low surrogate
      s({0xED, 0xBF, 0xBF}),        // U+DFFF
      s({0xF4, 0x90, 0x80, 0x80}),  // U+110000, above the largest code point
      s({0xF7, 0xBF, 0xBF, 0xBF}),  // U+1FFFFF
      s({0xF5, 0x80, 0x80, 0x80}),  // lead bytes F5..FF never appear
      s({0xF8, 0x88, 0x80, 0x80, 0x80}),
      s({0xFC, 0x84, 0x80, 0x80, 0x80, 0x80}),
      s({0xFE}),
      s({0xFF}),
      s({0xC3}),              // truncated 2-byte sequence
      s({0xE2, 0x82}),        // truncated 3-byte sequence
      s({0xF0, 0x9D, 0x84}),  // truncated 4-byte sequence
      s({'a', 0xE2, 0x82}),   // truncated at the end of a longer string
      s({0xE2, 'a', 0xAC}),   // continuation replaced by ASCII
      s({0xC3, 0xC3, 0xA9}),  // lead byte followed by another lead byte
  };
  for (const auto& v : invalid) {
    CAPTURE(v);
    CHECK_FALSE(is_valid_mqtt_utf8(v));
    CHECK_FALSE(is_valid_utf8(v));
  }
}

TEST_CASE("U+0000 is refused in MQTT strings only") {
  const std::string nul = s({'a', 0x00, 'b'});
  CHECK_FALSE(is_valid_mqtt_utf8(nul));
  CHECK_FALSE(is_valid_mqtt_utf8(std::string(1, '\0')));
  CHECK(is_valid_utf8(nul));
  CHECK(is_valid_utf8(std::string(1, '\0')));
}
