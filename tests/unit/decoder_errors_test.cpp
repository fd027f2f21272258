// Input the decoder must refuse, each with the reason code the spec names.
// Malformed Packet and Protocol Error follow the spec's own wording for the
// case; the others are the specific codes of 2.4.

#include <doctest/doctest.h>

#include <tuple>

#include "protocol/decoder.hpp"
#include "protocol/encoder.hpp"
#include "tests/unit/codec_support.hpp"

using namespace convoy::mqtt;
using convoy::mqtt::test::check_error;
using convoy::mqtt::test::concat;
using convoy::mqtt::test::options;

namespace {

constexpr auto v5 = protocol_version::v5;
constexpr auto v311 = protocol_version::v311;
constexpr auto malformed = reason_code::malformed_packet;
constexpr auto protocol_error = reason_code::protocol_error;

byte_buffer framed(std::uint8_t first, const byte_buffer& body) {
  byte_buffer out{first};
  wire::writer(out).variable_int(static_cast<std::uint32_t>(body.size()));
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

byte_buffer prefixed(const byte_buffer& s) {
  return concat(
      {byte_buffer{static_cast<std::uint8_t>(s.size() >> 8), static_cast<std::uint8_t>(s.size())},
       s});
}

// CONNECT up to and including the keep alive, for the given name, level and flags.
byte_buffer connect_head(std::string_view name, std::uint8_t level, std::uint8_t flags) {
  return concat(
      {prefixed(convoy::mqtt::test::bytes_of(name)), byte_buffer{level, flags, 0x00, 0x00}});
}

// Each malformed UTF-8 form the spec forbids in an MQTT UTF-8 string.
const std::pair<const char*, byte_buffer> bad_utf8[] = {
    {"overlong 2-byte '/'", {'a', 0xC0, 0xAF}},
    {"overlong 2-byte U+0000", {0xC0, 0x80}},
    {"overlong 3-byte", {0xE0, 0x80, 0xAF}},
    {"overlong 4-byte", {0xF0, 0x80, 0x80, 0xAF}},
    {"high surrogate U+D800", {0xED, 0xA0, 0x80}},
    {"low surrogate U+DFFF", {0xED, 0xBF, 0xBF}},
    {"U+0000", {'a', 0x00, 'b'}},
    {"truncated 2-byte sequence", {'a', 0xC3}},
    {"truncated 3-byte sequence", {0xE2, 0x82}},
    {"truncated 4-byte sequence", {0xF0, 0x9D, 0x84}},
    {"continuation byte without lead", {0x80}},
    {"lead byte followed by ASCII", {0xC3, 'a'}},
    {"above U+10FFFF", {0xF4, 0x90, 0x80, 0x80}},
    {"byte 0xFF", {0xFF}},
};

}  // namespace

TEST_CASE("every proper prefix of a packet is incomplete, never an error") {
  const byte_buffer packets[] = {
      encode(connect_packet{}, v5),
      encode(publish_packet{"a/b", std::string(200, 'x'), qos::at_least_once, false, false, 7, {}},
             v5),
      {0xC0, 0x00},
  };
  for (const auto& wire : packets) {
    for (std::size_t n = 0; n < wire.size(); ++n) {
      CAPTURE(n);
      auto r = decode(byte_view{wire}.first(n), options(v5));
      CHECK(r.incomplete());
      CHECK(r.consumed == 0);
    }
    CHECK(decode(wire, options(v5)).complete());
  }
}

TEST_CASE("fields running past the remaining length are malformed") {
  const std::pair<protocol_version, byte_buffer> cases[] = {
      {v311, {0x30, 0x03, 0x00, 0x05, 'a'}},        // topic length 5, 1 byte left
      {v311, {0x32, 0x04, 0x00, 0x01, 't', 0x00}},  // half a packet identifier
      {v5, {0x10, 0x03, 0x00, 0x04, 'M'}},          // protocol name cut short
      {v5, framed(0x10, {0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02})},  // no keep alive
      {v5, framed(0x10, concat({connect_head("MQTT", 5, 0x02),
                                byte_buffer{0x05}}))},  // property length 5, nothing follows
      {v5, framed(0x10, concat({connect_head("MQTT", 5, 0x02),
                                byte_buffer{0x00}}))},  // no client identifier
      {v5, framed(0x10, concat({connect_head("MQTT", 5, 0x06),
                                byte_buffer{0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
                                            't'}}))},  // no will payload
      {v311,
       framed(0x10, concat({connect_head("MQTT", 4, 0x82),
                            byte_buffer{0x00, 0x00, 0x00, 0x05, 'u'}}))},  // user name cut short
      {v311, framed(0x10, concat({connect_head("MQTT", 4, 0xC2),
                                  byte_buffer{0x00, 0x00, 0x00, 0x01, 'u'}}))},  // no password
      {v5, {0x20, 0x05, 0x00, 0x00, 0x02, 0x11, 0x00}},  // session expiry interval cut short
      {v5, {0x20, 0x01, 0x00}},                          // CONNACK without reason code
      {v5, {0x20, 0x02, 0x00, 0x00}},                    // CONNACK without property length
      {v5,
       {0x30, 0x0A, 0x00, 0x01, 't', 0x06, 0x26, 0x00, 0x01, 'k', 0x00,
        0x05}},                                               // user property value
      {v5, {0x30, 0x06, 0x00, 0x01, 't', 0x02, 0x0B, 0x80}},  // subscription identifier
      {v311, {0x40, 0x01, 0x00}},                             // PUBACK with one byte
      {v311, {0x82, 0x05, 0x00, 0x01, 0x00, 0x01, 't'}},      // no subscription options
      {v5, {0x82, 0x03, 0x00, 0x01, 0x01}},                   // property length 1, nothing follows
      {v311, {0xA2, 0x05, 0x00, 0x01, 0x00, 0x02, 't'}},      // topic filter cut short
      {v311, {0x90, 0x01, 0x00}},                             // SUBACK packet identifier
      {v5, {0xB0, 0x02, 0x00, 0x01}},                         // v5 UNSUBACK without properties
      {v5, {0xF0, 0x02, 0x18, 0x02}},                         // AUTH property length 2
  };
  for (const auto& c : cases) {
    const auto& [version, wire] = c;
    CAPTURE(c.second);
    check_error(wire, version, malformed);
  }
}

TEST_CASE("remaining length longer than four bytes") {
  check_error({0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F}, v5, malformed);
  check_error({0xC0, 0x80, 0x80, 0x80, 0x80, 0x00}, v311, malformed);
  frame_header h;
  CHECK(peek_frame(byte_buffer{0x30, 0x80, 0x80, 0x80, 0x80}, h).failed());
  // Four continuation bytes are not yet an error without the fifth.
  CHECK(decode(byte_buffer{0x30, 0xFF, 0xFF, 0xFF}, options(v5)).incomplete());
}

TEST_CASE("non-minimal Variable Byte Integers") {
  check_error({0xC0, 0x80, 0x00}, v5, malformed);          // remaining length 0 in 2 bytes
  check_error({0xC0, 0x80, 0x80, 0x00}, v311, malformed);  // ... in 3 bytes
  check_error({0x30, 0x83, 0x00, 0x00, 0x01, 't'}, v311, malformed);  // 3 in 2 bytes
  check_error({0x20, 0x04, 0x00, 0x00, 0x80, 0x00}, v5, malformed);   // property length
  check_error({0x30, 0x07, 0x00, 0x01, 't', 0x03, 0x0B, 0x81, 0x00}, v5,
              malformed);  // subscription identifier 1 in two bytes
  check_error({0x30, 0x07, 0x00, 0x01, 't', 0x03, 0x81, 0x00, 0x01}, v5,
              malformed);  // property identifier 1 in two bytes
}

TEST_CASE("reserved packet type 0") {
  check_error({0x00, 0x00}, v5, malformed);
  check_error({0x0F, 0x00}, v311, malformed);
  check_error({0x00, 0x02, 0x00, 0x01}, v5, malformed);
}

TEST_CASE("fixed header flags") {
  SUBCASE("PUBREL, SUBSCRIBE and UNSUBSCRIBE need 0010") {
    for (auto v : {v311, v5}) {
      for (std::uint8_t flags : {0x0, 0x1, 0x3, 0x4, 0x8, 0xA, 0xF}) {
        CAPTURE(flags);
        check_error({static_cast<std::uint8_t>(0x60 | flags), 0x02, 0x00, 0x01}, v, malformed);
        check_error(framed(static_cast<std::uint8_t>(0x80 | flags),
                           v == v5 ? byte_buffer{0x00, 0x01, 0x00, 0x00, 0x01, 't', 0x00}
                                   : byte_buffer{0x00, 0x01, 0x00, 0x01, 't', 0x00}),
                    v, malformed);
        check_error(framed(static_cast<std::uint8_t>(0xA0 | flags),
                           v == v5 ? byte_buffer{0x00, 0x01, 0x00, 0x00, 0x01, 't'}
                                   : byte_buffer{0x00, 0x01, 0x00, 0x01, 't'}),
                    v, malformed);
      }
    }
  }
  SUBCASE("every other type needs 0000") {
    // Valid bodies, so only the flags are wrong.
    const byte_buffer connect5 =
        concat({connect_head("MQTT", 5, 0x02), byte_buffer{0x00, 0x00, 0x00}});
    const byte_buffer connect4 = concat({connect_head("MQTT", 4, 0x02), byte_buffer{0x00, 0x00}});
    const std::tuple<protocol_version, std::uint8_t, byte_buffer> cases[] = {
        {v5, 0x10, connect5},
        {v311, 0x10, connect4},
        {v5, 0x20, {0x00, 0x00, 0x00}},
        {v311, 0x20, {0x00, 0x00}},
        {v5, 0x40, {0x00, 0x01}},
        {v5, 0x50, {0x00, 0x01}},
        {v311, 0x70, {0x00, 0x01}},
        {v5, 0x90, {0x00, 0x01, 0x00, 0x00}},
        {v311, 0x90, {0x00, 0x01, 0x00}},
        {v5, 0xB0, {0x00, 0x01, 0x00, 0x00}},
        {v311, 0xB0, {0x00, 0x01}},
        {v5, 0xC0, {}},
        {v311, 0xD0, {}},
        {v5, 0xE0, {}},
        {v311, 0xE0, {}},
        {v5, 0xF0, {}},
    };
    for (const auto& c : cases) {
      const auto& [v, type, body] = c;
      CAPTURE(std::get<1>(c));
      REQUIRE(decode(framed(type, body), options(v)).complete());
      for (std::uint8_t flags : {0x1, 0x2, 0x4, 0x8, 0xF})
        check_error(framed(static_cast<std::uint8_t>(type | flags), body), v, malformed);
    }
  }
}

TEST_CASE("PUBLISH QoS 3 and DUP on QoS 0") {
  for (auto v : {v311, v5}) {
    byte_buffer tail = v == v5 ? byte_buffer{0x00, 0x01, 0x00} : byte_buffer{0x00, 0x01};
    check_error(framed(0x36, concat({byte_buffer{0x00, 0x01, 't'}, tail})), v, malformed);
    check_error(framed(0x3F, concat({byte_buffer{0x00, 0x01, 't'}, tail})), v, malformed);
    check_error(
        framed(0x38, v == v5 ? byte_buffer{0x00, 0x01, 't', 0x00} : byte_buffer{0x00, 0x01, 't'}),
        v, malformed);
    check_error(
        framed(0x39, v == v5 ? byte_buffer{0x00, 0x01, 't', 0x00} : byte_buffer{0x00, 0x01, 't'}),
        v, malformed);
  }
}

TEST_CASE("packet identifier 0") {
  for (auto v : {v311, v5}) {
    CAPTURE(v == v5);
    byte_buffer props = v == v5 ? byte_buffer{0x00} : byte_buffer{};
    check_error(framed(0x32, concat({byte_buffer{0x00, 0x01, 't', 0x00, 0x00}, props})), v,
                protocol_error);
    check_error(framed(0x34, concat({byte_buffer{0x00, 0x01, 't', 0x00, 0x00}, props})), v,
                protocol_error);
    check_error({0x40, 0x02, 0x00, 0x00}, v, protocol_error);
    check_error({0x50, 0x02, 0x00, 0x00}, v, protocol_error);
    check_error({0x62, 0x02, 0x00, 0x00}, v, protocol_error);
    check_error({0x70, 0x02, 0x00, 0x00}, v, protocol_error);
    check_error(
        framed(0x82, concat({byte_buffer{0x00, 0x00}, props, byte_buffer{0x00, 0x01, 't', 0x00}})),
        v, protocol_error);
    check_error(
        framed(0xA2, concat({byte_buffer{0x00, 0x00}, props, byte_buffer{0x00, 0x01, 't'}})), v,
        protocol_error);
  }
}

TEST_CASE("invalid UTF-8 in topic, client identifier, user property and other strings") {
  for (const auto& c : bad_utf8) {
    const auto& [what, bad] = c;
    CAPTURE(c.first);
    // PUBLISH topic name, both versions.
    check_error(framed(0x30, prefixed(bad)), v311, malformed);
    check_error(framed(0x30, concat({prefixed(bad), byte_buffer{0x00}})), v5, malformed);
    // CONNECT client identifier.
    check_error(framed(0x10, concat({connect_head("MQTT", 4, 0x02), prefixed(bad)})), v311,
                malformed);
    check_error(
        framed(0x10, concat({connect_head("MQTT", 5, 0x02), byte_buffer{0x00}, prefixed(bad)})), v5,
        malformed);
    // CONNECT will topic and user name.
    check_error(framed(0x10, concat({connect_head("MQTT", 4, 0x06), byte_buffer{0x00, 0x00},
                                     prefixed(bad), byte_buffer{0x00, 0x00}})),
                v311, malformed);
    check_error(framed(0x10, concat({connect_head("MQTT", 4, 0x82), byte_buffer{0x00, 0x00},
                                     prefixed(bad)})),
                v311, malformed);
    // User property name and value.
    byte_buffer name_bad = concat({byte_buffer{0x26}, prefixed(bad), prefixed({'v'})});
    byte_buffer value_bad = concat({byte_buffer{0x26}, prefixed({'n'}), prefixed(bad)});
    for (const auto& prop : {name_bad, value_bad}) {
      byte_buffer block = concat({byte_buffer{static_cast<std::uint8_t>(prop.size())}, prop});
      check_error(framed(0x30, concat({byte_buffer{0x00, 0x01, 't'}, block})), v5, malformed);
      check_error(framed(0xE0, concat({byte_buffer{0x00}, block})), v5, malformed);
    }
    // A UTF-8 string property (Reason String) and topic filters.
    byte_buffer reason = concat({byte_buffer{0x1F}, prefixed(bad)});
    check_error(
        framed(0x40,
               concat({byte_buffer{0x00, 0x01, 0x80, static_cast<std::uint8_t>(reason.size())},
                       reason})),
        v5, malformed);
    check_error(framed(0x82, concat({byte_buffer{0x00, 0x01}, prefixed(bad), byte_buffer{0x00}})),
                v311, malformed);
    check_error(framed(0xA2, concat({byte_buffer{0x00, 0x01, 0x00}, prefixed(bad)})), v5,
                malformed);
  }
}

TEST_CASE("binary data is not UTF-8 checked") {
  // Password, will payload and correlation data may hold any bytes.
  auto r = decode(
      framed(0x10, concat({connect_head("MQTT", 4, 0xC6), byte_buffer{0x00, 0x00}, prefixed({'t'}),
                           prefixed({0xFF, 0x00}), prefixed({'u'}), prefixed({0xC0, 0x80})})),
      options(v311));
  CHECK(r.complete());
  r = decode(byte_buffer{0x30, 0x09, 0x00, 0x01, 't', 0x05, 0x09, 0x00, 0x02, 0xFF, 0x00},
             options(v5));
  CHECK(r.complete());
}

TEST_CASE("wildcards and empty topic names in PUBLISH") {
  for (const char* topic : {"a/+", "+", "#", "a/#", "a+b"}) {
    CAPTURE(topic);
    byte_buffer name = prefixed(convoy::mqtt::test::bytes_of(topic));
    check_error(framed(0x30, name), v311, reason_code::topic_name_invalid);
    check_error(framed(0x30, concat({name, byte_buffer{0x00}})), v5,
                reason_code::topic_name_invalid);
    // In the will topic too.
    check_error(framed(0x10, concat({connect_head("MQTT", 4, 0x06), byte_buffer{0x00, 0x00}, name,
                                     byte_buffer{0x00, 0x00}})),
                v311, reason_code::topic_name_invalid);
  }
  // 3.1.1 has no Topic Alias, so an empty topic name is never valid there.
  check_error({0x30, 0x02, 0x00, 0x00}, v311, reason_code::topic_name_invalid);
  check_error(
      framed(0x10, concat({connect_head("MQTT", 5, 0x06), byte_buffer{0x00, 0x00, 0x00, 0x00},
                           byte_buffer{0x00, 0x00}, byte_buffer{0x00, 0x00}})),
      v5, reason_code::topic_name_invalid);
}

TEST_CASE("unknown property identifiers") {
  for (std::uint8_t id :
       {0x00, 0x04, 0x05, 0x07, 0x0A, 0x0C, 0x10, 0x14, 0x1B, 0x1D, 0x1E, 0x20, 0x2B, 0x7F}) {
    CAPTURE(id);
    check_error({0x20, 0x04, 0x00, 0x00, 0x01, id}, v5, malformed);
  }
  // Identifiers are Variable Byte Integers: 128 and beyond are unknown too.
  check_error({0x20, 0x05, 0x00, 0x00, 0x02, 0x80, 0x01}, v5, malformed);
  check_error({0x20, 0x05, 0x00, 0x00, 0x02, 0xA6, 0x01}, v5, malformed);  // 0x26 + 128
}

TEST_CASE("properties not allowed in the packet type") {
  // Topic Alias in CONNECT.
  check_error(framed(0x10, concat({connect_head("MQTT", 5, 0x02),
                                   byte_buffer{0x03, 0x23, 0x00, 0x01}, byte_buffer{0x00, 0x00}})),
              v5, malformed);
  // Will Delay Interval in PUBLISH, outside a will.
  check_error({0x30, 0x09, 0x00, 0x01, 't', 0x05, 0x18, 0x00, 0x00, 0x00, 0x01}, v5, malformed);
  // Session Expiry Interval among the will properties.
  check_error(framed(0x10, concat({connect_head("MQTT", 5, 0x06), byte_buffer{0x00, 0x00, 0x00},
                                   byte_buffer{0x05, 0x11, 0x00, 0x00, 0x00, 0x01},
                                   byte_buffer{0x00, 0x01, 't', 0x00, 0x00}})),
              v5, malformed);
  // Subscription Identifier in SUBACK.
  check_error({0x90, 0x06, 0x00, 0x01, 0x02, 0x0B, 0x01, 0x00}, v5, malformed);
}

TEST_CASE("duplicated properties are a protocol error") {
  check_error(
      framed(0x10,
             concat({connect_head("MQTT", 5, 0x02),
                     byte_buffer{0x0A, 0x11, 0x00, 0x00, 0x00, 0x01, 0x11, 0x00, 0x00, 0x00, 0x02},
                     byte_buffer{0x00, 0x00}})),
      v5, protocol_error);
  check_error({0x30, 0x0A, 0x00, 0x01, 't', 0x06, 0x23, 0x00, 0x01, 0x23, 0x00, 0x02}, v5,
              protocol_error);  // Topic Alias twice
  check_error({0x82, 0x0B, 0x00, 0x01, 0x04, 0x0B, 0x01, 0x0B, 0x02, 0x00, 0x01, 't', 0x00}, v5,
              protocol_error);  // two Subscription Identifiers in SUBSCRIBE
}

TEST_CASE("property values out of range") {
  // Byte properties that hold a boolean, and Maximum QoS, allow only 0 and 1.
  for (std::uint8_t value : {0x02, 0xFF}) {
    CAPTURE(value);
    check_error({0x30, 0x06, 0x00, 0x01, 't', 0x02, 0x01, value}, v5, protocol_error);
    for (std::uint8_t id : {0x17, 0x19})
      check_error(framed(0x10, concat({connect_head("MQTT", 5, 0x02), byte_buffer{0x02, id, value},
                                       byte_buffer{0x00, 0x00}})),
                  v5, protocol_error);
    for (std::uint8_t id : {0x24, 0x25, 0x28, 0x29, 0x2A})
      check_error({0x20, 0x05, 0x00, 0x00, 0x02, id, value}, v5, protocol_error);
    // Will properties are checked the same way.
    check_error(framed(0x10, concat({connect_head("MQTT", 5, 0x06), byte_buffer{0x00, 0x00, 0x00},
                                     byte_buffer{0x02, 0x01, value},
                                     byte_buffer{0x00, 0x01, 't', 0x00, 0x00}})),
                v5, protocol_error);
  }
  // Receive Maximum and Maximum Packet Size must not be 0.
  check_error(framed(0x10, concat({connect_head("MQTT", 5, 0x02),
                                   byte_buffer{0x03, 0x21, 0x00, 0x00}, byte_buffer{0x00, 0x00}})),
              v5, protocol_error);
  check_error({0x20, 0x06, 0x00, 0x00, 0x03, 0x21, 0x00, 0x00}, v5, protocol_error);
  check_error({0x20, 0x08, 0x00, 0x00, 0x05, 0x27, 0x00, 0x00, 0x00, 0x00}, v5, protocol_error);
}

TEST_CASE("CONNECT protocol name and level") {
  SUBCASE("a name other than MQTT is malformed and names no version") {
    for (const char* name : {"MQTX", "mqtt", "MQT", "MQTTT", ""}) {
      CAPTURE(name);
      auto r =
          check_error(framed(0x10, concat({connect_head(name, 4, 0x02), byte_buffer{0x00, 0x00}})),
                      v5, malformed);
      CHECK_FALSE(r.connect_version.has_value());
    }
  }
  SUBCASE("MQTT 3.1 and unsupported levels are answered in 3.1.1") {
    auto r = check_error(
        framed(0x10, concat({connect_head("MQIsdp", 3, 0x02), byte_buffer{0x00, 0x00}})), v5,
        reason_code::unsupported_protocol_version);
    CHECK(r.connect_version == protocol_version::v311);
    for (std::uint8_t level : {0, 1, 2, 3, 6, 7, 0x84, 0x85, 0xFF}) {
      CAPTURE(level);
      r = check_error(
          framed(0x10, concat({connect_head("MQTT", level, 0x02), byte_buffer{0x00, 0x00}})), v5,
          reason_code::unsupported_protocol_version);
      CHECK(r.connect_version == protocol_version::v311);
    }
  }
  SUBCASE("later errors carry the version the client speaks") {
    auto r = check_error(
        framed(0x10, concat({connect_head("MQTT", 5, 0x03), byte_buffer{0x00, 0x00, 0x00}})), v311,
        malformed);
    CHECK(r.connect_version == protocol_version::v5);
    r = check_error(framed(0x10, concat({connect_head("MQTT", 4, 0x03), byte_buffer{0x00, 0x00}})),
                    v5, malformed);
    CHECK(r.connect_version == protocol_version::v311);
    auto ok = decode(framed(0x10, concat({connect_head("MQTT", 4, 0x02), byte_buffer{0x00, 0x00}})),
                     options(v5));
    REQUIRE(ok.complete());
    CHECK(ok.connect_version == protocol_version::v311);
  }
}

TEST_CASE("CONNECT flags") {
  for (const auto& c :
       {std::pair{std::uint8_t{4}, byte_buffer{}}, std::pair{std::uint8_t{5}, byte_buffer{0x00}}}) {
    const auto& [level, props] = c;
    CAPTURE(c.first);
    auto v = level == 5 ? v5 : v311;
    auto connect = [&, props = props, level = level](std::uint8_t flags, const byte_buffer& tail) {
      return framed(0x10, concat({connect_head("MQTT", level, flags), props, tail}));
    };
    const byte_buffer no_id{0x00, 0x00};
    check_error(connect(0x03, no_id), v, malformed);  // reserved bit 0
    check_error(connect(0x01, no_id), v, malformed);
    check_error(connect(0x0A, no_id), v, malformed);  // will QoS 1 without will flag
    check_error(connect(0x12, no_id), v, malformed);  // will QoS 2 without will flag
    check_error(connect(0x22, no_id), v, malformed);  // will retain without will flag
    byte_buffer will = concat({no_id, props, byte_buffer{0x00, 0x01, 't', 0x00, 0x00}});
    check_error(connect(0x1E, will), v, malformed);             // will QoS 3
    CHECK(decode(connect(0x36, will), options(v)).complete());  // will QoS 2, retain: fine
  }
  // Password without user name: refused by 3.1.1, allowed by 5.0.
  check_error(framed(0x10, concat({connect_head("MQTT", 4, 0x42),
                                   byte_buffer{0x00, 0x00, 0x00, 0x01, 'p'}})),
              v311, malformed);
  CHECK(decode(framed(0x10, concat({connect_head("MQTT", 5, 0x42),
                                    byte_buffer{0x00, 0x00, 0x00, 0x00, 0x01, 'p'}})),
               options(v5))
            .complete());
}

TEST_CASE("CONNACK flags and codes") {
  check_error({0x20, 0x02, 0x02, 0x00}, v311, malformed);      // reserved acknowledge flag
  check_error({0x20, 0x03, 0x80, 0x00, 0x00}, v5, malformed);  // reserved acknowledge flag
  check_error({0x20, 0x02, 0x00, 0x06}, v311, malformed);      // return code 6
  check_error({0x20, 0x03, 0x00, 0x05, 0x00}, v5, malformed);  // not a reason code
}

TEST_CASE("SUBSCRIBE and UNSUBSCRIBE payloads") {
  SUBCASE("no topic filters") {
    check_error({0x82, 0x02, 0x00, 0x01}, v311, protocol_error);
    check_error({0x82, 0x03, 0x00, 0x01, 0x00}, v5, protocol_error);
    check_error({0x82, 0x05, 0x00, 0x01, 0x02, 0x0B, 0x01}, v5, protocol_error);
    check_error({0xA2, 0x02, 0x00, 0x01}, v311, protocol_error);
    check_error({0xA2, 0x03, 0x00, 0x01, 0x00}, v5, protocol_error);
  }
  SUBCASE("reserved subscription option bits") {
    for (std::uint8_t options : {0x40, 0x80, 0xC0, 0x41})
      check_error({0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 't', options}, v5, malformed);
    // 3.1.1 reserves everything above the QoS.
    for (std::uint8_t options : {0x04, 0x08, 0x10, 0x20, 0x80})
      check_error({0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 't', options}, v311, malformed);
  }
  SUBCASE("retain handling 3 and QoS 3") {
    check_error({0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 't', 0x30}, v5, malformed);
    check_error({0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 't', 0x03}, v5, malformed);
    check_error({0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 't', 0x03}, v311, malformed);
  }
}

TEST_CASE("reason codes a packet type does not allow") {
  check_error({0x40, 0x03, 0x00, 0x01, 0x01}, v5, malformed);  // PUBACK Granted QoS 1
  check_error({0x50, 0x03, 0x00, 0x01, 0x92}, v5, malformed);  // PUBREC Packet Identifier not found
  check_error({0x62, 0x03, 0x00, 0x01, 0x10}, v5, malformed);  // PUBREL No matching subscribers
  check_error({0x70, 0x03, 0x00, 0x01, 0x80}, v5, malformed);  // PUBCOMP Unspecified error
  check_error({0x90, 0x04, 0x00, 0x01, 0x00, 0x03}, v5, malformed);  // SUBACK 0x03
  check_error({0x90, 0x03, 0x00, 0x01, 0x83}, v311, malformed);      // 3.1.1 knows only 0x80
  check_error({0xB0, 0x04, 0x00, 0x01, 0x00, 0x01}, v5, malformed);  // UNSUBACK 0x01
  check_error({0xE0, 0x01, 0x01}, v5, malformed);                    // DISCONNECT 0x01
  check_error({0xE0, 0x01, 0x18}, v5, malformed);  // DISCONNECT Continue authentication
  check_error({0xF0, 0x01, 0x80}, v5, malformed);  // AUTH Unspecified error
}

TEST_CASE("AUTH does not exist in 3.1.1") {
  check_error({0xF0, 0x00}, v311, malformed);
  check_error({0xF0, 0x01, 0x18}, v311, malformed);
  CHECK(decode(byte_buffer{0xF0, 0x00}, options(v5)).complete());
}

TEST_CASE("trailing bytes after the last field") {
  const std::pair<protocol_version, byte_buffer> cases[] = {
      {v311, {0xC0, 0x01, 0x00}},                        // PINGREQ
      {v5, {0xD0, 0x01, 0x00}},                          // PINGRESP
      {v311, {0x40, 0x03, 0x00, 0x01, 0x00}},            // 3.1.1 PUBACK has no reason code
      {v311, {0x62, 0x03, 0x00, 0x01, 0x00}},            // 3.1.1 PUBREL
      {v5, {0x40, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00}},  // v5 PUBACK after its properties
      {v311, {0x20, 0x03, 0x00, 0x00, 0x00}},            // 3.1.1 CONNACK
      {v5, {0x20, 0x04, 0x00, 0x00, 0x00, 0x00}},        // v5 CONNACK
      {v311, {0xB0, 0x03, 0x00, 0x01, 0x00}},            // 3.1.1 UNSUBACK has no payload
      {v311, {0xE0, 0x01, 0x00}},                        // 3.1.1 DISCONNECT
      {v5, {0xE0, 0x03, 0x00, 0x00, 0x00}},              // v5 DISCONNECT
      {v5, {0xF0, 0x03, 0x00, 0x00, 0x00}},              // AUTH
      {v311, framed(0x10, concat({connect_head("MQTT", 4, 0x02), byte_buffer{0x00, 0x00, 0x00}}))},
      {v5,
       framed(0x10, concat({connect_head("MQTT", 5, 0x02), byte_buffer{0x00, 0x00, 0x00, 'x'}}))},
  };
  for (const auto& c : cases) {
    const auto& [version, wire] = c;
    CAPTURE(c.second);
    check_error(wire, version, malformed);
  }
}

TEST_CASE("packets above maximum_packet_size are refused from the fixed header") {
  // A PUBLISH of 12 bytes in all; only its first two bytes have arrived.
  check_error({0x30, 0x0A}, v5, reason_code::packet_too_large, 11);
  check_error({0x30, 0x0A}, v311, reason_code::packet_too_large, 2);
  CHECK(decode(byte_buffer{0x30, 0x0A}, options(v5, 12)).incomplete());
  // Exactly the maximum is fine.
  const byte_buffer whole{0x30, 0x0A, 0x00, 0x01, 't', 0x00, 'p', 'a', 'y', 'l', 'o', 'd'};
  CHECK(decode(whole, options(v5, 12)).complete());
  check_error(whole, v5, reason_code::packet_too_large, 11);
  // Multi-byte remaining lengths.
  check_error({0x30, 0xFF, 0x7F}, v5, reason_code::packet_too_large, 16385);
  CHECK(decode(byte_buffer{0x30, 0xFF, 0x7F}, options(v5, 16386)).incomplete());
  check_error({0x30, 0xFF, 0xFF, 0xFF, 0x7F}, v311, reason_code::packet_too_large, 1 << 20);
  // Even the smallest packets count their fixed header.
  check_error({0xC0, 0x00}, v5, reason_code::packet_too_large, 1);
}

TEST_CASE("Payload Format Indicator 1 requires a UTF-8 payload") {
  auto publish = [](std::uint8_t indicator, const byte_buffer& payload) {
    return framed(0x30, concat({byte_buffer{0x00, 0x01, 't', 0x02, 0x01, indicator}, payload}));
  };
  check_error(publish(1, {0xFF}), v5, reason_code::payload_format_invalid);
  check_error(publish(1, {'o', 'k', 0xC0, 0x80}), v5, reason_code::payload_format_invalid);
  check_error(publish(1, {0xED, 0xA0, 0x80}), v5, reason_code::payload_format_invalid);
  check_error(publish(1, {0xE2, 0x82}), v5, reason_code::payload_format_invalid);
  CHECK(decode(publish(1, {'h', 0xC3, 0xA9}), options(v5)).complete());
  CHECK(decode(publish(1, {}), options(v5)).complete());
  // RFC 3629 UTF-8, which (unlike MQTT's strings) may contain U+0000.
  CHECK(decode(publish(1, {'a', 0x00, 'b'}), options(v5)).complete());
  // Unspecified bytes may be anything.
  CHECK(decode(publish(0, {0xFF, 0x00}), options(v5)).complete());
  CHECK(decode(byte_buffer{0x30, 0x05, 0x00, 0x01, 't', 0x00, 0xFF}, options(v5)).complete());
}
