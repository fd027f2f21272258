// Byte-exact MQTT 3.1.1 codec tests: every packet type 3.1.1 has, written out
// field by field, and what the encoder leaves out of MQTT 5 fields.

#include <doctest/doctest.h>

#include "protocol/decoder.hpp"
#include "protocol/encoder.hpp"
#include "tests/unit/codec_support.hpp"

using namespace convoy::mqtt;
using convoy::mqtt::test::check_codec;

namespace {

constexpr auto v311 = protocol_version::v311;

}  // namespace

TEST_CASE("v3.1.1 CONNECT, minimal") {
  connect_packet c;
  c.version = v311;
  c.keep_alive = 60;
  check_codec(c, v311,
              {
                  0x10,                            // CONNECT
                  0x0C,                            // remaining length 12
                  0x00, 0x04, 'M', 'Q', 'T', 'T',  // protocol name
                  0x04,                            // protocol level 4
                  0x02,                            // connect flags: clean session
                  0x00, 0x3C,                      // keep alive 60
                  0x00, 0x00,                      // empty client identifier
              });
}

TEST_CASE("v3.1.1 CONNECT with will, user name and password") {
  connect_packet c;
  c.version = v311;
  c.client_id = "cid";
  c.keep_alive = 10;
  c.will = will_message{"w", std::string("\x00\x01", 2), qos::exactly_once, true, {}};
  c.username = "user";
  c.password = "pw";
  const byte_buffer wire{
      0x10,                              // CONNECT
      0x20,                              // remaining length 32
      0x00, 0x04, 'M',  'Q',  'T', 'T',  // protocol name
      0x04,                              // protocol level 4
      0xF6,        // flags: user name, password, will retain, will QoS 2, will flag, clean session
      0x00, 0x0A,  // keep alive 10
      0x00, 0x03, 'c',  'i',  'd',       // client identifier "cid"
      0x00, 0x01, 'w',                   // will topic "w"
      0x00, 0x02, 0x00, 0x01,            // will message 00 01
      0x00, 0x04, 'u',  's',  'e', 'r',  // user name "user"
      0x00, 0x02, 'p',  'w',             // password "pw"
  };
  check_codec(c, v311, wire);
}

TEST_CASE("v3.1.1 CONNECT is written in its own version, whatever the connection's") {
  connect_packet c;
  c.version = v311;
  c.keep_alive = 60;
  c.props = {{property_id::session_expiry_interval, 1u}};  // 3.1.1 cannot carry it
  const byte_buffer wire{0x10, 0x0C, 0x00, 0x04, 'M',  'Q',  'T',
                         'T',  0x04, 0x02, 0x00, 0x3C, 0x00, 0x00};
  CHECK(encode(c, protocol_version::v5) == wire);
  CHECK(encode(c, v311) == wire);
  connect_packet c5;
  c5.keep_alive = 60;
  // Level 5 and its property block even on a connection thought to be 3.1.1.
  const byte_buffer wire5{0x10, 0x0D, 0x00, 0x04, 'M',  'Q',  'T', 'T',
                          0x05, 0x02, 0x00, 0x3C, 0x00, 0x00, 0x00};
  CHECK(encode(c5, v311) == wire5);
  // And the decoder reads a CONNECT in its own version too.
  auto r = decode(wire5, convoy::mqtt::test::options(v311));
  REQUIRE(r.complete());
  CHECK(r.value == packet{c5});
  CHECK(r.connect_version == protocol_version::v5);
}

TEST_CASE("v3.1.1 CONNACK and every return code") {
  check_codec(connack_packet{}, v311,
              {
                  0x20,  // CONNACK
                  0x02,  // remaining length 2
                  0x00,  // acknowledge flags
                  0x00,  // return code 0: accepted
              });
  connack_packet c;
  c.session_present = true;
  check_codec(c, v311, {0x20, 0x02, 0x01, 0x00});  // ..., session present, accepted
  const std::pair<std::uint8_t, reason_code> codes[] = {
      {0x01, reason_code::unsupported_protocol_version},
      {0x02, reason_code::client_identifier_not_valid},
      {0x03, reason_code::server_unavailable},
      {0x04, reason_code::bad_user_name_or_password},
      {0x05, reason_code::not_authorized},
  };
  for (const auto& c : codes) {
    const auto& [byte, rc] = c;
    CAPTURE(c.second);
    connack_packet refused;
    refused.reason = rc;
    check_codec(refused, v311, {0x20, 0x02, 0x00, byte});
  }
}

TEST_CASE("v3.1.1 CONNACK maps MQTT 5 reason codes onto return codes") {
  auto connack_code = [](reason_code rc) {
    connack_packet c;
    c.reason = rc;
    c.props = {{property_id::reason_string, std::string{"dropped"}}};
    return encode(c, v311);
  };
  CHECK(connack_code(reason_code::banned) == byte_buffer{0x20, 0x02, 0x00, 0x05});
  CHECK(connack_code(reason_code::bad_authentication_method) ==
        byte_buffer{0x20, 0x02, 0x00, 0x04});
  CHECK(connack_code(reason_code::quota_exceeded) == byte_buffer{0x20, 0x02, 0x00, 0x03});
  CHECK(connack_code(reason_code::server_busy) == byte_buffer{0x20, 0x02, 0x00, 0x03});
}

TEST_CASE("v3.1.1 PUBLISH at each QoS") {
  publish_packet p;
  p.topic = "a/b";
  p.payload = "hi";
  check_codec(p, v311,
              {
                  0x30,                       // PUBLISH, QoS 0
                  0x07,                       // remaining length 7
                  0x00, 0x03, 'a', '/', 'b',  // topic name
                  'h', 'i',                   // payload
              });
  p.qos = qos::at_least_once;
  p.dup = true;
  p.retain = true;
  p.packet_id = 0x1234;
  check_codec(p, v311,
              {
                  0x3B,                       // PUBLISH, DUP, QoS 1, RETAIN
                  0x09,                       // remaining length 9
                  0x00, 0x03, 'a', '/', 'b',  // topic name
                  0x12, 0x34,                 // packet identifier
                  'h', 'i',                   // payload
              });
  publish_packet p2;
  p2.topic = "t";
  p2.qos = qos::exactly_once;
  p2.packet_id = 0xFFFF;
  check_codec(p2, v311,
              {
                  0x34,             // PUBLISH, QoS 2
                  0x05,             // remaining length 5
                  0x00, 0x01, 't',  // topic name
                  0xFF, 0xFF,       // packet identifier 65535
              });                   // empty payload
}

TEST_CASE("v3.1.1 PUBLISH leaves MQTT 5 properties out") {
  publish_packet p;
  p.topic = "a/b";
  p.payload = "hi";
  p.props = {{property_id::message_expiry_interval, 5u},
             {property_id::user_property, string_pair{"k", "v"}}};
  CHECK(encode(p, v311) == byte_buffer{0x30, 0x07, 0x00, 0x03, 'a', '/', 'b', 'h', 'i'});
}

TEST_CASE("v3.1.1 PUBACK, PUBREC, PUBREL, PUBCOMP") {
  const std::pair<packet_type, std::uint8_t> kinds[] = {
      {packet_type::puback, 0x40},   // PUBACK, flags 0
      {packet_type::pubrec, 0x50},   // PUBREC, flags 0
      {packet_type::pubrel, 0x62},   // PUBREL, flags 0010
      {packet_type::pubcomp, 0x70},  // PUBCOMP, flags 0
  };
  for (auto [type, first] : kinds) {
    const std::string name = to_string(type);
    CAPTURE(name);
    pub_ack_packet a;
    a.type = type;
    a.packet_id = 0x0102;
    check_codec(a, v311,
                {
                    first,       // fixed header
                    0x02,        // remaining length 2
                    0x01, 0x02,  // packet identifier 0x0102
                });
    // 3.1.1 has no reason code or properties: an MQTT 5 failure is left out.
    a.reason = reason_code::packet_identifier_not_found;
    a.props = {{property_id::reason_string, std::string{"x"}}};
    CHECK(encode(a, v311) == byte_buffer{first, 0x02, 0x01, 0x02});
  }
}

TEST_CASE("v3.1.1 SUBSCRIBE") {
  subscribe_packet s;
  s.packet_id = 1;
  s.entries.push_back({"a/b", {qos::at_most_once}});
  s.entries.push_back({"c/#", {qos::exactly_once}});
  const byte_buffer wire{
      0x82,                       // SUBSCRIBE (flags 0010)
      0x0E,                       // remaining length 14
      0x00, 0x01,                 // packet identifier 1
      0x00, 0x03, 'a', '/', 'b',  // topic filter "a/b"
      0x00,                       // requested QoS 0
      0x00, 0x03, 'c', '/', '#',  // topic filter "c/#"
      0x02,                       // requested QoS 2
  };
  check_codec(s, v311, wire);
  // MQTT 5 subscription options and properties do not exist in 3.1.1.
  s.entries[1].options.no_local = true;
  s.entries[1].options.retain_as_published = true;
  s.entries[1].options.retain_handling = retain_handling::do_not_send;
  s.props = {{property_id::subscription_identifier, 1u}};
  CHECK(encode(s, v311) == wire);
}

TEST_CASE("v3.1.1 SUBACK") {
  suback_packet s;
  s.packet_id = 1;
  s.reasons = {reason_code::success, reason_code::granted_qos_2, reason_code::unspecified_error};
  check_codec(s, v311,
              {
                  0x90,              // SUBACK
                  0x05,              // remaining length 5
                  0x00, 0x01,        // packet identifier 1
                  0x00, 0x02, 0x80,  // granted QoS 0, granted QoS 2, failure
              });
  // Any MQTT 5 failure code becomes the one 3.1.1 failure code.
  s.reasons = {reason_code::not_authorized, reason_code::granted_qos_1};
  CHECK(encode(s, v311) == byte_buffer{0x90, 0x04, 0x00, 0x01, 0x80, 0x01});
}

TEST_CASE("v3.1.1 UNSUBSCRIBE") {
  unsubscribe_packet u;
  u.packet_id = 1;
  u.filters = {"a/b", "c"};
  check_codec(u, v311,
              {
                  0xA2,                       // UNSUBSCRIBE (flags 0010)
                  0x0A,                       // remaining length 10
                  0x00, 0x01,                 // packet identifier 1
                  0x00, 0x03, 'a', '/', 'b',  // topic filter "a/b"
                  0x00, 0x01, 'c',            // topic filter "c"
              });
}

TEST_CASE("v3.1.1 UNSUBACK") {
  unsuback_packet u;
  u.packet_id = 0x0A0B;
  check_codec(u, v311,
              {
                  0xB0,        // UNSUBACK
                  0x02,        // remaining length 2
                  0x0A, 0x0B,  // packet identifier
              });
  // 3.1.1 UNSUBACK has no payload: MQTT 5 reason codes are left out.
  u.reasons = {reason_code::no_subscription_existed};
  CHECK(encode(u, v311) == byte_buffer{0xB0, 0x02, 0x0A, 0x0B});
}

TEST_CASE("v3.1.1 PINGREQ, PINGRESP and DISCONNECT") {
  check_codec(pingreq_packet{}, v311, {0xC0, 0x00});     // PINGREQ
  check_codec(pingresp_packet{}, v311, {0xD0, 0x00});    // PINGRESP
  check_codec(disconnect_packet{}, v311, {0xE0, 0x00});  // DISCONNECT
  disconnect_packet d;
  d.reason = reason_code::server_shutting_down;  // 3.1.1 DISCONNECT carries nothing
  CHECK(encode(d, v311) == byte_buffer{0xE0, 0x00});
}
