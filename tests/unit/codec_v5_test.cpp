// Byte-exact MQTT 5.0 codec tests: every packet type written out field by
// field, checked in both directions (see check_codec).

#include <doctest/doctest.h>

#include "protocol/decoder.hpp"
#include "protocol/encoder.hpp"
#include "tests/unit/codec_support.hpp"

using namespace convoy::mqtt;
using convoy::mqtt::test::check_codec;
using convoy::mqtt::test::check_decodes_to;

namespace {

constexpr auto v5 = protocol_version::v5;

std::string bin(std::initializer_list<std::uint8_t> b) {
  return std::string(b.begin(), b.end());
}

}  // namespace

TEST_CASE("v5 CONNECT, minimal") {
  connect_packet c;
  c.client_id = "cid";
  c.keep_alive = 60;
  const byte_buffer wire{
      0x10,                            // CONNECT, flags 0
      0x10,                            // remaining length 16
      0x00, 0x04, 'M', 'Q', 'T', 'T',  // protocol name
      0x05,                            // protocol level 5
      0x02,                            // connect flags: clean start
      0x00, 0x3C,                      // keep alive 60
      0x00,                            // property length 0
      0x00, 0x03, 'c', 'i', 'd',       // client identifier
  };
  check_codec(c, v5, wire);
}

TEST_CASE("v5 CONNECT with will, user name, password and every CONNECT and will property") {
  connect_packet c;
  c.client_id = "c1";
  c.clean_start = false;
  c.keep_alive = 300;
  c.props = {
      {property_id::session_expiry_interval, 3600u},
      {property_id::receive_maximum, 20u},
      {property_id::maximum_packet_size, 65536u},
      {property_id::topic_alias_maximum, 10u},
      {property_id::request_response_information, 1u},
      {property_id::request_problem_information, 0u},
      {property_id::user_property, string_pair{"a", "1"}},
      {property_id::user_property, string_pair{"a", "2"}},
      {property_id::authentication_method, std::string{"SCRAM"}},
      {property_id::authentication_data, bin({0x00, 0xFF})},
  };
  will_message w;
  w.topic = "w/t";
  w.payload = "bye";
  w.qos = qos::at_least_once;
  w.retain = true;
  w.props = {
      {property_id::will_delay_interval, 5u},
      {property_id::payload_format_indicator, 1u},
      {property_id::message_expiry_interval, 60u},
      {property_id::content_type, std::string{"t/p"}},
      {property_id::response_topic, std::string{"r"}},
      {property_id::correlation_data, bin({0x01, 0x02})},
      {property_id::user_property, string_pair{"k", "v"}},
  };
  c.will = w;
  c.username = "u";
  c.password = bin({0x00, 0x01, 0xFF});
  const byte_buffer wire{
      0x10,                               // CONNECT
      0x73,                               // remaining length 115
      0x00, 0x04, 'M',  'Q',  'T',  'T',  // protocol name
      0x05,                               // protocol level 5
      0xEC,        // flags: user name, password, will retain, will QoS 1, will flag; no clean start
      0x01, 0x2C,  // keep alive 300
      0x2F,        // property length 47
      0x11, 0x00, 0x00, 0x0E, 0x10,                  // session expiry interval 3600
      0x21, 0x00, 0x14,                              // receive maximum 20
      0x27, 0x00, 0x01, 0x00, 0x00,                  // maximum packet size 65536
      0x22, 0x00, 0x0A,                              // topic alias maximum 10
      0x19, 0x01,                                    // request response information 1
      0x17, 0x00,                                    // request problem information 0
      0x26, 0x00, 0x01, 'a',  0x00, 0x01, '1',       // user property a=1
      0x26, 0x00, 0x01, 'a',  0x00, 0x01, '2',       // user property a=2 (same name again)
      0x15, 0x00, 0x05, 'S',  'C',  'R',  'A', 'M',  // authentication method "SCRAM"
      0x16, 0x00, 0x02, 0x00, 0xFF,                  // authentication data 00 ff
      0x00, 0x02, 'c',  '1',                         // client identifier "c1"
      0x22,                                          // will property length 34
      0x18, 0x00, 0x00, 0x00, 0x05,                  // will delay interval 5
      0x01, 0x01,                                    // payload format indicator 1 (UTF-8)
      0x02, 0x00, 0x00, 0x00, 0x3C,                  // message expiry interval 60
      0x03, 0x00, 0x03, 't',  '/',  'p',             // content type "t/p"
      0x08, 0x00, 0x01, 'r',                         // response topic "r"
      0x09, 0x00, 0x02, 0x01, 0x02,                  // correlation data 01 02
      0x26, 0x00, 0x01, 'k',  0x00, 0x01, 'v',       // user property k=v
      0x00, 0x03, 'w',  '/',  't',                   // will topic "w/t"
      0x00, 0x03, 'b',  'y',  'e',                   // will payload "bye"
      0x00, 0x01, 'u',                               // user name "u"
      0x00, 0x03, 0x00, 0x01, 0xFF,                  // password 00 01 ff
  };
  check_codec(c, v5, wire);
}

TEST_CASE("v5 CONNECT: password without user name is legal in MQTT 5") {
  connect_packet c;
  c.client_id = "";
  c.password = "p";
  const byte_buffer wire{
      0x10,                            // CONNECT
      0x10,                            // remaining length 16
      0x00, 0x04, 'M', 'Q', 'T', 'T',  // protocol name
      0x05,                            // protocol level 5
      0x42,                            // flags: password, clean start
      0x00, 0x00,                      // keep alive 0
      0x00,                            // property length 0
      0x00, 0x00,                      // empty client identifier
      0x00, 0x01, 'p',                 // password "p"
  };
  check_codec(c, v5, wire);
}

TEST_CASE("v5 CONNACK, minimal and refused") {
  check_codec(connack_packet{}, v5,
              {
                  0x20,  // CONNACK
                  0x03,  // remaining length 3
                  0x00,  // acknowledge flags: no session present
                  0x00,  // reason code Success
                  0x00,  // property length 0
              });
  connack_packet refused;
  refused.reason = reason_code::not_authorized;
  check_codec(refused, v5,
              {
                  0x20,  // CONNACK
                  0x03,  // remaining length 3
                  0x00,  // acknowledge flags
                  0x87,  // reason code Not authorized
                  0x00,  // property length 0
              });
}

TEST_CASE("v5 CONNACK with every CONNACK property") {
  connack_packet c;
  c.session_present = true;
  c.props = {
      {property_id::session_expiry_interval, 120u},
      {property_id::receive_maximum, 100u},
      {property_id::maximum_qos, 1u},
      {property_id::retain_available, 0u},
      {property_id::maximum_packet_size, 1048576u},
      {property_id::assigned_client_identifier, std::string{"auto-1"}},
      {property_id::topic_alias_maximum, 5u},
      {property_id::reason_string, std::string{"ok"}},
      {property_id::user_property, string_pair{"x", "y"}},
      {property_id::wildcard_subscription_available, 1u},
      {property_id::subscription_identifier_available, 0u},
      {property_id::shared_subscription_available, 1u},
      {property_id::server_keep_alive, 30u},
      {property_id::response_information, std::string{"ri"}},
      {property_id::server_reference, std::string{"s2"}},
      {property_id::authentication_method, std::string{"M"}},
      {property_id::authentication_data, std::string{"D"}},
  };
  const byte_buffer wire{
      0x20,                                               // CONNACK
      0x47,                                               // remaining length 71
      0x01,                                               // acknowledge flags: session present
      0x00,                                               // reason code Success
      0x44,                                               // property length 68
      0x11, 0x00, 0x00, 0x00, 0x78,                       // session expiry interval 120
      0x21, 0x00, 0x64,                                   // receive maximum 100
      0x24, 0x01,                                         // maximum QoS 1
      0x25, 0x00,                                         // retain available 0
      0x27, 0x00, 0x10, 0x00, 0x00,                       // maximum packet size 1048576
      0x12, 0x00, 0x06, 'a',  'u',  't',  'o', '-', '1',  // assigned client identifier
      0x22, 0x00, 0x05,                                   // topic alias maximum 5
      0x1F, 0x00, 0x02, 'o',  'k',                        // reason string "ok"
      0x26, 0x00, 0x01, 'x',  0x00, 0x01, 'y',            // user property x=y
      0x28, 0x01,                                         // wildcard subscription available 1
      0x29, 0x00,                                         // subscription identifier available 0
      0x2A, 0x01,                                         // shared subscription available 1
      0x13, 0x00, 0x1E,                                   // server keep alive 30
      0x1A, 0x00, 0x02, 'r',  'i',                        // response information "ri"
      0x1C, 0x00, 0x02, 's',  '2',                        // server reference "s2"
      0x15, 0x00, 0x01, 'M',                              // authentication method "M"
      0x16, 0x00, 0x01, 'D',                              // authentication data "D"
  };
  check_codec(c, v5, wire);
}

TEST_CASE("v5 PUBLISH QoS 0, no properties") {
  publish_packet p;
  p.topic = "a/b";
  p.payload = "hi";
  check_codec(p, v5,
              {
                  0x30,                       // PUBLISH, QoS 0
                  0x08,                       // remaining length 8
                  0x00, 0x03, 'a', '/', 'b',  // topic name
                  0x00,                       // property length 0
                  'h', 'i',                   // payload
              });
}

TEST_CASE("v5 PUBLISH QoS 1 with DUP, RETAIN and every PUBLISH property") {
  publish_packet p;
  p.topic = "s/t";
  p.payload = "h\xC3\xA9llo";
  p.qos = qos::at_least_once;
  p.retain = true;
  p.dup = true;
  p.packet_id = 0x1234;
  p.props = {
      {property_id::payload_format_indicator, 1u},
      {property_id::message_expiry_interval, 0xFFFFu},
      {property_id::topic_alias, 7u},
      {property_id::response_topic, std::string{"re/sp"}},
      {property_id::correlation_data, bin({0xDE, 0xAD})},
      {property_id::user_property, string_pair{"a", "1"}},
      {property_id::user_property, string_pair{"a", "1"}},
      {property_id::user_property, string_pair{"b", "2"}},
      {property_id::subscription_identifier, 1u},
      {property_id::subscription_identifier, 200u},
      {property_id::subscription_identifier, 268435455u},
      {property_id::content_type, std::string{"text/plain"}},
  };
  const byte_buffer wire{
      0x3B,                                          // PUBLISH, DUP, QoS 1, RETAIN
      0x51,                                          // remaining length 81
      0x00, 0x03, 's',  '/',  't',                   // topic name "s/t"
      0x12, 0x34,                                    // packet identifier 0x1234
      0x43,                                          // property length 67
      0x01, 0x01,                                    // payload format indicator 1
      0x02, 0x00, 0x00, 0xFF, 0xFF,                  // message expiry interval 65535
      0x23, 0x00, 0x07,                              // topic alias 7
      0x08, 0x00, 0x05, 'r',  'e',  '/',  's', 'p',  // response topic "re/sp"
      0x09, 0x00, 0x02, 0xDE, 0xAD,                  // correlation data de ad
      0x26, 0x00, 0x01, 'a',  0x00, 0x01, '1',       // user property a=1
      0x26, 0x00, 0x01, 'a',  0x00, 0x01, '1',       // user property a=1, repeated verbatim
      0x26, 0x00, 0x01, 'b',  0x00, 0x01, '2',       // user property b=2
      0x0B, 0x01,                                    // subscription identifier 1
      0x0B, 0xC8, 0x01,                              // subscription identifier 200
      0x0B, 0xFF, 0xFF, 0xFF, 0x7F,                  // subscription identifier 268435455
      0x03, 0x00, 0x0A, 't',  'e',  'x',  't', '/', 'p', 'l', 'a', 'i', 'n',  // content type
      'h',  0xC3, 0xA9, 'l',  'l',  'o',  // payload "héllo", UTF-8 as declared
  };
  check_codec(p, v5, wire);
  CHECK(p.props.numbers(property_id::subscription_identifier) ==
        std::vector<std::uint32_t>{1, 200, 268435455});
  CHECK(p.props.user_properties().size() == 3);
}

TEST_CASE("v5 PUBLISH QoS 2 with an empty topic and a Topic Alias") {
  publish_packet p;
  p.payload = "x";
  p.qos = qos::exactly_once;
  p.packet_id = 2;
  p.props = {{property_id::topic_alias, 1u}};
  check_codec(p, v5,
              {
                  0x34,              // PUBLISH, QoS 2
                  0x09,              // remaining length 9
                  0x00, 0x00,        // empty topic name (the alias stands in)
                  0x00, 0x02,        // packet identifier 2
                  0x03,              // property length 3
                  0x23, 0x00, 0x01,  // topic alias 1
                  'x',               // payload
              });
}

TEST_CASE("v5 PUBACK") {
  pub_ack_packet a;
  a.packet_id = 1;
  check_codec(a, v5,
              {
                  0x40,        // PUBACK
                  0x02,        // remaining length 2: Success and no properties left out
                  0x00, 0x01,  // packet identifier 1
              });
  a.packet_id = 2;
  a.reason = reason_code::no_matching_subscribers;
  check_codec(a, v5,
              {
                  0x40,        // PUBACK
                  0x03,        // remaining length 3: no property length
                  0x00, 0x02,  // packet identifier 2
                  0x10,        // reason code No matching subscribers
              });
  a.packet_id = 3;
  a.reason = reason_code::quota_exceeded;
  a.props = {{property_id::reason_string, std::string{"quota"}},
             {property_id::user_property, string_pair{"k", "v"}}};
  check_codec(a, v5,
              {
                  0x40,                                         // PUBACK
                  0x13,                                         // remaining length 19
                  0x00, 0x03,                                   // packet identifier 3
                  0x97,                                         // reason code Quota exceeded
                  0x0F,                                         // property length 15
                  0x1F, 0x00, 0x05, 'q', 'u',  'o',  't', 'a',  // reason string "quota"
                  0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v',       // user property k=v
              });
}

TEST_CASE("v5 PUBACK: explicit Success and empty property block re-encode in short form") {
  pub_ack_packet a;
  a.packet_id = 1;
  const byte_buffer canonical{0x40, 0x02, 0x00, 0x01};
  check_decodes_to({0x40, 0x03, 0x00, 0x01, 0x00}, v5, a, canonical);
  check_decodes_to({0x40, 0x04, 0x00, 0x01, 0x00, 0x00}, v5, a, canonical);
  a.reason = reason_code::unspecified_error;
  check_decodes_to({0x40, 0x04, 0x00, 0x01, 0x80, 0x00}, v5, a, {0x40, 0x03, 0x00, 0x01, 0x80});
}

TEST_CASE("v5 PUBREC") {
  pub_ack_packet a;
  a.type = packet_type::pubrec;
  a.packet_id = 5;
  check_codec(a, v5, {0x50, 0x02, 0x00, 0x05});  // PUBREC, length 2, packet identifier 5
  a.reason = reason_code::packet_identifier_in_use;
  a.props = {{property_id::reason_string, std::string{"x"}}};
  check_codec(a, v5,
              {
                  0x50,                   // PUBREC
                  0x08,                   // remaining length 8
                  0x00, 0x05,             // packet identifier 5
                  0x91,                   // reason code Packet Identifier in use
                  0x04,                   // property length 4
                  0x1F, 0x00, 0x01, 'x',  // reason string "x"
              });
}

TEST_CASE("v5 PUBREL") {
  pub_ack_packet a;
  a.type = packet_type::pubrel;
  a.packet_id = 6;
  check_codec(a, v5, {0x62, 0x02, 0x00, 0x06});  // PUBREL (flags 0010), length 2, id 6
  a.reason = reason_code::packet_identifier_not_found;
  check_codec(a, v5, {0x62, 0x03, 0x00, 0x06, 0x92});  // ..., Packet Identifier not found
  a.props = {{property_id::user_property, string_pair{"a", "b"}}};
  check_codec(a, v5,
              {
                  0x62,                                    // PUBREL
                  0x0B,                                    // remaining length 11
                  0x00, 0x06,                              // packet identifier 6
                  0x92,                                    // Packet Identifier not found
                  0x07,                                    // property length 7
                  0x26, 0x00, 0x01, 'a', 0x00, 0x01, 'b',  // user property a=b
              });
}

TEST_CASE("v5 PUBCOMP") {
  pub_ack_packet a;
  a.type = packet_type::pubcomp;
  a.packet_id = 7;
  check_codec(a, v5, {0x70, 0x02, 0x00, 0x07});  // PUBCOMP, length 2, packet identifier 7
  a.reason = reason_code::packet_identifier_not_found;
  a.props = {{property_id::reason_string, std::string{"gone"}}};
  check_codec(a, v5,
              {
                  0x70,                                  // PUBCOMP
                  0x0B,                                  // remaining length 11
                  0x00, 0x07,                            // packet identifier 7
                  0x92,                                  // Packet Identifier not found
                  0x07,                                  // property length 7
                  0x1F, 0x00, 0x04, 'g', 'o', 'n', 'e',  // reason string "gone"
              });
}

TEST_CASE("v5 SUBSCRIBE with every subscription option") {
  subscribe_packet s;
  s.packet_id = 10;
  s.props = {{property_id::subscription_identifier, 16384u},
             {property_id::user_property, string_pair{"u", "p"}}};
  s.entries.push_back(
      {"a/+", {qos::at_least_once, false, false, retain_handling::send_on_subscribe}});
  s.entries.push_back(
      {"$share/g/b/#", {qos::exactly_once, true, true, retain_handling::do_not_send}});
  s.entries.push_back(
      {"c", {qos::at_most_once, false, false, retain_handling::send_if_new_subscription}});
  const byte_buffer wire{
      0x82,                                     // SUBSCRIBE (flags 0010)
      0x27,                                     // remaining length 39
      0x00, 0x0A,                               // packet identifier 10
      0x0B,                                     // property length 11
      0x0B, 0x80, 0x80, 0x01,                   // subscription identifier 16384
      0x26, 0x00, 0x01, 'u',  0x00, 0x01, 'p',  // user property u=p
      0x00, 0x03, 'a',  '/',  '+',              // topic filter "a/+"
      0x01,                                     // options: QoS 1
      0x00, 0x0C, '$',  's',  'h',  'a',  'r', 'e', '/', 'g', '/', 'b', '/', '#',  // filter
      0x2E,             // options: retain handling 2, retain as published, no local, QoS 2
      0x00, 0x01, 'c',  // topic filter "c"
      0x10,             // options: retain handling 1, QoS 0
  };
  check_codec(s, v5, wire);
}

TEST_CASE("v5 SUBACK with every SUBACK reason code") {
  suback_packet s;
  s.packet_id = 10;
  s.props = {{property_id::reason_string, std::string{"r"}},
             {property_id::user_property, string_pair{"k", "v"}}};
  s.reasons = {reason_code::granted_qos_1,
               reason_code::granted_qos_2,
               reason_code::success,
               reason_code::unspecified_error,
               reason_code::implementation_specific_error,
               reason_code::not_authorized,
               reason_code::topic_filter_invalid,
               reason_code::packet_identifier_in_use,
               reason_code::quota_exceeded,
               reason_code::shared_subscriptions_not_supported,
               reason_code::subscription_identifiers_not_supported,
               reason_code::wildcard_subscriptions_not_supported};
  const byte_buffer wire{
      0x90,                                                  // SUBACK
      0x1A,                                                  // remaining length 26
      0x00, 0x0A,                                            // packet identifier 10
      0x0B,                                                  // property length 11
      0x1F, 0x00, 0x01, 'r',                                 // reason string "r"
      0x26, 0x00, 0x01, 'k',  0x00, 0x01, 'v',               // user property k=v
      0x01, 0x02, 0x00,                                      // granted QoS 1, 2, 0
      0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2,  // the failure codes
  };
  check_codec(s, v5, wire);
}

TEST_CASE("v5 UNSUBSCRIBE") {
  unsubscribe_packet u;
  u.packet_id = 11;
  u.props = {{property_id::user_property, string_pair{"k", "v"}}};
  u.filters = {"a/+", "$share/g/b/#"};
  const byte_buffer wire{
      0xA2,                                    // UNSUBSCRIBE (flags 0010)
      0x1D,                                    // remaining length 29
      0x00, 0x0B,                              // packet identifier 11
      0x07,                                    // property length 7
      0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v',  // user property k=v
      0x00, 0x03, 'a',  '/', '+',              // topic filter "a/+"
      0x00, 0x0C, '$',  's', 'h',  'a',  'r', 'e', '/', 'g', '/', 'b', '/', '#',  // filter
  };
  check_codec(u, v5, wire);
}

TEST_CASE("v5 UNSUBACK with every UNSUBACK reason code") {
  unsuback_packet u;
  u.packet_id = 11;
  u.props = {{property_id::reason_string, std::string{"no"}}};
  u.reasons = {reason_code::success,
               reason_code::no_subscription_existed,
               reason_code::unspecified_error,
               reason_code::implementation_specific_error,
               reason_code::not_authorized,
               reason_code::topic_filter_invalid,
               reason_code::packet_identifier_in_use};
  const byte_buffer wire{
      0xB0,                                      // UNSUBACK
      0x0F,                                      // remaining length 15
      0x00, 0x0B,                                // packet identifier 11
      0x05,                                      // property length 5
      0x1F, 0x00, 0x02, 'n',  'o',               // reason string "no"
      0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91,  // reason codes
  };
  check_codec(u, v5, wire);
}

TEST_CASE("v5 PINGREQ and PINGRESP") {
  check_codec(pingreq_packet{}, v5, {0xC0, 0x00});   // PINGREQ, remaining length 0
  check_codec(pingresp_packet{}, v5, {0xD0, 0x00});  // PINGRESP, remaining length 0
}

TEST_CASE("v5 DISCONNECT") {
  check_codec(disconnect_packet{}, v5, {0xE0, 0x00});  // normal disconnection, short form
  disconnect_packet d;
  d.reason = reason_code::disconnect_with_will_message;
  check_codec(d, v5, {0xE0, 0x01, 0x04});  // DISCONNECT, length 1, Disconnect with Will Message
  d.reason = reason_code::use_another_server;
  d.props = {{property_id::session_expiry_interval, 0u},
             {property_id::reason_string, std::string{"bye"}},
             {property_id::server_reference, std::string{"srv"}},
             {property_id::user_property, string_pair{"k", "v"}}};
  check_codec(d, v5,
              {
                  0xE0,                                     // DISCONNECT
                  0x1A,                                     // remaining length 26
                  0x9C,                                     // reason code Use another server
                  0x18,                                     // property length 24
                  0x11, 0x00, 0x00, 0x00, 0x00,             // session expiry interval 0
                  0x1F, 0x00, 0x03, 'b',  'y',  'e',        // reason string "bye"
                  0x1C, 0x00, 0x03, 's',  'r',  'v',        // server reference "srv"
                  0x26, 0x00, 0x01, 'k',  0x00, 0x01, 'v',  // user property k=v
              });
  check_decodes_to({0xE0, 0x01, 0x00}, v5, disconnect_packet{}, {0xE0, 0x00});
  check_decodes_to({0xE0, 0x02, 0x00, 0x00}, v5, disconnect_packet{}, {0xE0, 0x00});
}

TEST_CASE("v5 AUTH") {
  check_codec(auth_packet{}, v5, {0xF0, 0x00});  // AUTH, Success in short form
  auth_packet a;
  a.reason = reason_code::continue_authentication;
  check_codec(a, v5, {0xF0, 0x01, 0x18});  // AUTH, length 1, Continue authentication
  check_decodes_to({0xF0, 0x02, 0x18, 0x00}, v5, a, {0xF0, 0x01, 0x18});
  a.reason = reason_code::re_authenticate;
  a.props = {{property_id::authentication_method, std::string{"SCRAM"}},
             {property_id::authentication_data, bin({0x01, 0x02, 0x03})},
             {property_id::reason_string, std::string{"again"}},
             {property_id::user_property, string_pair{"k", "v"}}};
  check_codec(a, v5,
              {
                  0xF0,                                          // AUTH
                  0x1F,                                          // remaining length 31
                  0x19,                                          // reason code Re-authenticate
                  0x1D,                                          // property length 29
                  0x15, 0x00, 0x05, 'S',  'C',  'R',  'A', 'M',  // authentication method
                  0x16, 0x00, 0x03, 0x01, 0x02, 0x03,            // authentication data
                  0x1F, 0x00, 0x05, 'a',  'g',  'a',  'i', 'n',  // reason string "again"
                  0x26, 0x00, 0x01, 'k',  0x00, 0x01, 'v',       // user property k=v
              });
}
