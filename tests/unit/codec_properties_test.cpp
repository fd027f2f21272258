// Every MQTT 5 property in every packet type: allowed ones round-trip byte
// for byte, the others are refused. Variable Byte Integer boundaries as
// remaining lengths, property lengths and property values.

#include <doctest/doctest.h>

#include <array>
#include <set>

#include "protocol/decoder.hpp"
#include "protocol/encoder.hpp"
#include "protocol/properties.hpp"
#include "protocol/wire.hpp"
#include "tests/unit/codec_support.hpp"

using namespace convoy::mqtt;
using convoy::mqtt::test::check_codec;
using convoy::mqtt::test::check_error;
using convoy::mqtt::test::concat;

namespace {

constexpr auto v5 = protocol_version::v5;
using pc = property_context;

constexpr std::array all_contexts{pc::connect,    pc::connack, pc::publish,     pc::will,
                                  pc::puback,     pc::pubrec,  pc::pubrel,      pc::pubcomp,
                                  pc::subscribe,  pc::suback,  pc::unsubscribe, pc::unsuback,
                                  pc::disconnect, pc::auth};

const char* context_name(pc ctx) {
  switch (ctx) {
    case pc::connect:
      return "CONNECT";
    case pc::connack:
      return "CONNACK";
    case pc::publish:
      return "PUBLISH";
    case pc::will:
      return "will";
    case pc::puback:
      return "PUBACK";
    case pc::pubrec:
      return "PUBREC";
    case pc::pubrel:
      return "PUBREL";
    case pc::pubcomp:
      return "PUBCOMP";
    case pc::subscribe:
      return "SUBSCRIBE";
    case pc::suback:
      return "SUBACK";
    case pc::unsubscribe:
      return "UNSUBSCRIBE";
    case pc::unsuback:
      return "UNSUBACK";
    case pc::disconnect:
      return "DISCONNECT";
    case pc::auth:
      return "AUTH";
  }
  return "?";
}

// One property as the spec lays it out, and the packets it may appear in
// (spec 2.2.2.2, table of properties), written independently of properties.cpp.
struct property_case {
  property_id id;
  property_value value;
  byte_buffer wire;  // identifier and value
  std::set<pc> allowed;
};

std::vector<property_case> property_cases() {
  const std::set<pc> message{pc::publish, pc::will};
  const std::set<pc> acks{pc::connack, pc::puback,   pc::pubrec,     pc::pubrel, pc::pubcomp,
                          pc::suback,  pc::unsuback, pc::disconnect, pc::auth};
  using s = std::string;
  return {
      {property_id::payload_format_indicator, 1u, {0x01, 0x01}, message},
      {property_id::message_expiry_interval, 0x12345678u, {0x02, 0x12, 0x34, 0x56, 0x78}, message},
      {property_id::content_type, s{"json"}, {0x03, 0x00, 0x04, 'j', 's', 'o', 'n'}, message},
      {property_id::response_topic, s{"r/t"}, {0x08, 0x00, 0x03, 'r', '/', 't'}, message},
      {property_id::correlation_data, s("\0\1", 2), {0x09, 0x00, 0x02, 0x00, 0x01}, message},
      {property_id::subscription_identifier,
       268435455u,
       {0x0B, 0xFF, 0xFF, 0xFF, 0x7F},
       {pc::publish, pc::subscribe}},
      {property_id::session_expiry_interval,
       0xFFFFFFFFu,
       {0x11, 0xFF, 0xFF, 0xFF, 0xFF},
       {pc::connect, pc::connack, pc::disconnect}},
      {property_id::assigned_client_identifier,
       s{"id"},
       {0x12, 0x00, 0x02, 'i', 'd'},
       {pc::connack}},
      {property_id::server_keep_alive, 0xFFFFu, {0x13, 0xFF, 0xFF}, {pc::connack}},
      {property_id::authentication_method,
       s{"m"},
       {0x15, 0x00, 0x01, 'm'},
       {pc::connect, pc::connack, pc::auth}},
      {property_id::authentication_data,
       s{"\xFF"},
       {0x16, 0x00, 0x01, 0xFF},
       {pc::connect, pc::connack, pc::auth}},
      {property_id::request_problem_information, 0u, {0x17, 0x00}, {pc::connect}},
      {property_id::will_delay_interval, 10u, {0x18, 0x00, 0x00, 0x00, 0x0A}, {pc::will}},
      {property_id::request_response_information, 1u, {0x19, 0x01}, {pc::connect}},
      {property_id::response_information, s{"ri"}, {0x1A, 0x00, 0x02, 'r', 'i'}, {pc::connack}},
      {property_id::server_reference,
       s{"h"},
       {0x1C, 0x00, 0x01, 'h'},
       {pc::connack, pc::disconnect}},
      {property_id::reason_string, s{"why"}, {0x1F, 0x00, 0x03, 'w', 'h', 'y'}, acks},
      {property_id::receive_maximum, 65535u, {0x21, 0xFF, 0xFF}, {pc::connect, pc::connack}},
      {property_id::topic_alias_maximum, 0u, {0x22, 0x00, 0x00}, {pc::connect, pc::connack}},
      {property_id::topic_alias, 1u, {0x23, 0x00, 0x01}, {pc::publish}},
      {property_id::maximum_qos, 0u, {0x24, 0x00}, {pc::connack}},
      {property_id::retain_available, 1u, {0x25, 0x01}, {pc::connack}},
      {property_id::user_property,
       string_pair{"n", "v"},
       {0x26, 0x00, 0x01, 'n', 0x00, 0x01, 'v'},
       {all_contexts.begin(), all_contexts.end()}},
      {property_id::maximum_packet_size,
       268435460u,
       {0x27, 0x10, 0x00, 0x00, 0x04},
       {pc::connect, pc::connack}},
      {property_id::wildcard_subscription_available, 0u, {0x28, 0x00}, {pc::connack}},
      {property_id::subscription_identifier_available, 1u, {0x29, 0x01}, {pc::connack}},
      {property_id::shared_subscription_available, 0u, {0x2A, 0x00}, {pc::connack}},
  };
}

// The smallest packet that carries props in the given place, as a struct...
packet packet_with(pc ctx, const properties& props) {
  switch (ctx) {
    case pc::connect: {
      connect_packet c;
      c.props = props;
      return c;
    }
    case pc::will: {
      connect_packet c;
      c.will = will_message{"t", "", qos::at_most_once, false, props};
      return c;
    }
    case pc::connack:
      return connack_packet{false, reason_code::success, props};
    case pc::publish:
      return publish_packet{"t", "", qos::at_most_once, false, false, 0, props};
    case pc::puback:
      return pub_ack_packet{packet_type::puback, 1, reason_code::success, props};
    case pc::pubrec:
      return pub_ack_packet{packet_type::pubrec, 1, reason_code::success, props};
    case pc::pubrel:
      return pub_ack_packet{packet_type::pubrel, 1, reason_code::success, props};
    case pc::pubcomp:
      return pub_ack_packet{packet_type::pubcomp, 1, reason_code::success, props};
    case pc::subscribe:
      return subscribe_packet{1, {{"t", {}}}, props};
    case pc::suback:
      return suback_packet{1, {reason_code::success}, props};
    case pc::unsubscribe:
      return unsubscribe_packet{1, {"t"}, props};
    case pc::unsuback:
      return unsuback_packet{1, {reason_code::success}, props};
    case pc::disconnect:
      return disconnect_packet{reason_code::success, props};
    case pc::auth:
      return auth_packet{reason_code::success, props};
  }
  return pingreq_packet{};
}

byte_buffer with_fixed_header(std::uint8_t first, const byte_buffer& body) {
  byte_buffer out{first};
  wire::writer w(out);
  w.variable_int(static_cast<std::uint32_t>(body.size()));
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

// ...and on the wire, around a property block (length included).
byte_buffer wire_with(pc ctx, const byte_buffer& block) {
  const byte_buffer connect_head{0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05};
  switch (ctx) {
    case pc::connect:
      return with_fixed_header(0x10, concat({connect_head, byte_buffer{0x02, 0x00, 0x00}, block,
                                             byte_buffer{0x00, 0x00}}));
    case pc::will:
      return with_fixed_header(
          0x10, concat({connect_head, byte_buffer{0x06, 0x00, 0x00, 0x00, 0x00, 0x00}, block,
                        byte_buffer{0x00, 0x01, 't', 0x00, 0x00}}));
    case pc::connack:
      return with_fixed_header(0x20, concat({byte_buffer{0x00, 0x00}, block}));
    case pc::publish:
      return with_fixed_header(0x30, concat({byte_buffer{0x00, 0x01, 't'}, block}));
    case pc::puback:
      return with_fixed_header(0x40, concat({byte_buffer{0x00, 0x01, 0x00}, block}));
    case pc::pubrec:
      return with_fixed_header(0x50, concat({byte_buffer{0x00, 0x01, 0x00}, block}));
    case pc::pubrel:
      return with_fixed_header(0x62, concat({byte_buffer{0x00, 0x01, 0x00}, block}));
    case pc::pubcomp:
      return with_fixed_header(0x70, concat({byte_buffer{0x00, 0x01, 0x00}, block}));
    case pc::subscribe:
      return with_fixed_header(
          0x82, concat({byte_buffer{0x00, 0x01}, block, byte_buffer{0x00, 0x01, 't', 0x00}}));
    case pc::suback:
      return with_fixed_header(0x90, concat({byte_buffer{0x00, 0x01}, block, byte_buffer{0x00}}));
    case pc::unsubscribe:
      return with_fixed_header(
          0xA2, concat({byte_buffer{0x00, 0x01}, block, byte_buffer{0x00, 0x01, 't'}}));
    case pc::unsuback:
      return with_fixed_header(0xB0, concat({byte_buffer{0x00, 0x01}, block, byte_buffer{0x00}}));
    case pc::disconnect:
      return with_fixed_header(0xE0, concat({byte_buffer{0x00}, block}));
    case pc::auth:
      return with_fixed_header(0xF0, concat({byte_buffer{0x00}, block}));
  }
  return {};
}

byte_buffer block_of(const byte_buffer& props_wire) {
  byte_buffer out;
  wire::writer w(out);
  w.variable_int(static_cast<std::uint32_t>(props_wire.size()));
  out.insert(out.end(), props_wire.begin(), props_wire.end());
  return out;
}

}  // namespace

TEST_CASE("MQTT 5 defines exactly 27 properties") {
  std::set<std::uint8_t> expected;
  for (const auto& c : property_cases())
    expected.insert(static_cast<std::uint8_t>(c.id));
  CHECK(expected.size() == 27);
  std::set<std::uint8_t> known;
  for (int id = 0; id < 256; ++id)
    if (find_property_info(static_cast<std::uint8_t>(id)) != nullptr)
      known.insert(static_cast<std::uint8_t>(id));
  CHECK(known == expected);
}

TEST_CASE("every property round-trips where it is allowed and is refused elsewhere") {
  for (const auto& c : property_cases()) {
    const char* name = find_property_info(static_cast<std::uint8_t>(c.id))->name;
    for (pc ctx : all_contexts) {
      CAPTURE(name);
      CAPTURE(context_name(ctx));
      CHECK(allowed_in(c.id, ctx) == c.allowed.contains(ctx));
      properties props{{c.id, c.value}};
      byte_buffer wire = wire_with(ctx, block_of(c.wire));
      if (c.allowed.contains(ctx)) {
        check_codec(packet_with(ctx, props), v5, wire);
      } else {
        check_error(wire, v5, reason_code::malformed_packet);
      }
    }
  }
}

TEST_CASE("repeating a property: User Property anywhere, Subscription Identifier in PUBLISH") {
  for (const auto& c : property_cases()) {
    const char* name = find_property_info(static_cast<std::uint8_t>(c.id))->name;
    for (pc ctx : c.allowed) {
      CAPTURE(name);
      CAPTURE(context_name(ctx));
      properties twice{{c.id, c.value}, {c.id, c.value}};
      byte_buffer wire = wire_with(ctx, block_of(concat({c.wire, c.wire})));
      bool repeatable = c.id == property_id::user_property ||
                        (c.id == property_id::subscription_identifier && ctx == pc::publish);
      if (repeatable) {
        check_codec(packet_with(ctx, twice), v5, wire);
      } else {
        check_error(wire, v5, reason_code::protocol_error);
      }
    }
  }
}

TEST_CASE("Variable Byte Integer boundaries from the spec") {
  const std::pair<std::uint32_t, byte_buffer> cases[] = {
      {0, {0x00}},
      {127, {0x7F}},
      {128, {0x80, 0x01}},
      {16383, {0xFF, 0x7F}},
      {16384, {0x80, 0x80, 0x01}},
      {2097151, {0xFF, 0xFF, 0x7F}},
      {2097152, {0x80, 0x80, 0x80, 0x01}},
      {268435455, {0xFF, 0xFF, 0xFF, 0x7F}},
  };
  for (const auto& c : cases) {
    const auto& [value, bytes] = c;
    CAPTURE(c.first);
    byte_buffer out;
    wire::writer(out).variable_int(value);
    CHECK(out == bytes);
    CHECK(wire::variable_int_size(value) == bytes.size());
    wire::reader r(bytes);
    CHECK(r.variable_int() == value);
    CHECK(r.ok());
    CHECK(r.remaining() == 0);
  }
}

TEST_CASE("Variable Byte Integer reader refuses long, non-minimal and truncated forms") {
  const byte_buffer bad[] = {
      {0x80, 0x00},                    // 0 in two bytes
      {0xFF, 0x00},                    // 127 in two bytes
      {0x80, 0x80, 0x00},              // 0 in three bytes
      {0x80, 0x80, 0x80, 0x00},        // 0 in four bytes
      {0xFF, 0xFF, 0xFF, 0xFF, 0x01},  // five bytes
      {0xFF, 0xFF, 0xFF},              // ends while continuation bit is set
      {},
  };
  for (const auto& b : bad) {
    CAPTURE(b);
    wire::reader r(b);
    r.variable_int();
    CHECK_FALSE(r.ok());
  }
}

TEST_CASE("subscription identifier values at every Variable Byte Integer boundary") {
  const std::pair<std::uint32_t, byte_buffer> cases[] = {
      {1, {0x01}},
      {127, {0x7F}},
      {128, {0x80, 0x01}},
      {16383, {0xFF, 0x7F}},
      {16384, {0x80, 0x80, 0x01}},
      {2097151, {0xFF, 0xFF, 0x7F}},
      {2097152, {0x80, 0x80, 0x80, 0x01}},
      {268435455, {0xFF, 0xFF, 0xFF, 0x7F}},
  };
  for (const auto& c : cases) {
    const auto& [value, vbi] = c;
    CAPTURE(c.first);
    publish_packet p;
    p.topic = "t";
    p.props = {{property_id::subscription_identifier, value}};
    auto n = static_cast<std::uint8_t>(1 + vbi.size());
    check_codec(p, v5,
                concat({byte_buffer{0x30,                              // PUBLISH, QoS 0
                                    static_cast<std::uint8_t>(4 + n),  // remaining length
                                    0x00, 0x01, 't',                   // topic name
                                    n,                                 // property length
                                    0x0B},                             // subscription identifier
                        vbi}));
  }
  // 0 is the one value a Subscription Identifier cannot have.
  check_error({0x30, 0x06, 0x00, 0x01, 't', 0x02, 0x0B, 0x00}, v5, reason_code::protocol_error);
}

TEST_CASE("property length at the one/two and two/three byte boundaries") {
  // A single User Property of total size n: 1 (id) + 2 + name + 2 + value.
  for (std::uint32_t n : {127u, 128u, 16383u, 16384u}) {
    CAPTURE(n);
    std::string name(60, 'n');
    std::string value(n - 5 - name.size(), 'v');
    publish_packet p;
    p.topic = "t";
    p.props.add_user_property(name, value);
    byte_buffer prop{0x26, 0x00, static_cast<std::uint8_t>(name.size())};
    prop.insert(prop.end(), name.begin(), name.end());
    prop.push_back(static_cast<std::uint8_t>(value.size() >> 8));
    prop.push_back(static_cast<std::uint8_t>(value.size()));
    prop.insert(prop.end(), value.begin(), value.end());
    REQUIRE(prop.size() == n);
    byte_buffer length = n == 127     ? byte_buffer{0x7F}
                         : n == 128   ? byte_buffer{0x80, 0x01}
                         : n == 16383 ? byte_buffer{0xFF, 0x7F}
                                      : byte_buffer{0x80, 0x80, 0x01};
    byte_buffer body = concat({byte_buffer{0x00, 0x01, 't'}, length, prop});
    byte_buffer wire{0x30};
    wire::writer(wire).variable_int(static_cast<std::uint32_t>(body.size()));
    wire.insert(wire.end(), body.begin(), body.end());
    check_codec(p, v5, wire);
    CHECK(encoded_properties_size(p.props) == length.size() + n);
  }
}

TEST_CASE("remaining length at every Variable Byte Integer boundary") {
  check_codec(pingreq_packet{}, protocol_version::v311, {0xC0, 0x00});  // remaining length 0
  const std::pair<std::uint32_t, byte_buffer> cases[] = {
      {127, {0x7F}},
      {128, {0x80, 0x01}},
      {16383, {0xFF, 0x7F}},
      {16384, {0x80, 0x80, 0x01}},
      {2097151, {0xFF, 0xFF, 0x7F}},
      {2097152, {0x80, 0x80, 0x80, 0x01}},
  };
  for (const auto& c : cases) {
    const auto& [length, vbi] = c;
    CAPTURE(c.first);
    publish_packet p;
    p.topic = "t";
    p.payload.assign(length - 3, 'x');                        // topic name takes 3 bytes
    byte_buffer wire = concat({byte_buffer{0x30},             // PUBLISH, QoS 0
                               vbi,                           // remaining length
                               byte_buffer{0x00, 0x01, 't'},  // topic name
                               convoy::mqtt::test::bytes_of(p.payload)});
    check_codec(p, protocol_version::v311, wire);
    frame_header h;
    REQUIRE(peek_frame(wire, h).complete());
    CHECK(h.remaining_length == length);
    CHECK(h.header_size == 1 + vbi.size());
    CHECK(h.total_size() == wire.size());
  }
}

TEST_CASE("the largest remaining length, 268435455, from its header alone") {
  publish_packet p;
  p.topic = "t";
  byte_buffer header;
  encode_publish_header(p, 268435455 - 3, protocol_version::v311, header);
  const byte_buffer expected{
      0x30,                    // PUBLISH, QoS 0
      0xFF, 0xFF, 0xFF, 0x7F,  // remaining length 268435455
      0x00, 0x01, 't',         // topic name
  };
  CHECK(header == expected);
  frame_header h;
  REQUIRE(peek_frame(header, h).complete());
  CHECK(h.remaining_length == 268435455);
  CHECK(h.total_size() == max_packet_size_limit);
  // The largest packet there can be waits for its body under the default limit...
  CHECK(decode(header, convoy::mqtt::test::options(protocol_version::v311)).incomplete());
  // ...and is refused one byte under it.
  check_error(header, protocol_version::v311, reason_code::packet_too_large,
              max_packet_size_limit - 1);
}

TEST_CASE("a property block round trips outside a packet") {
  properties props;
  props.add(property_id::payload_format_indicator, 1u);
  props.add(property_id::content_type, std::string{"application/json"});
  props.add(property_id::correlation_data, std::string{"\x00\x01\xff", 3});
  props.add_user_property("priority", "high");
  props.add_user_property("priority", "low");
  byte_buffer block;
  encode_property_block(props, block);
  CHECK(block.size() == encoded_properties_size(props));
  auto back = decode_property_block(block, property_context::publish);
  REQUIRE(back);
  CHECK(*back == props);

  byte_buffer empty;
  encode_property_block(properties{}, empty);
  CHECK(empty == byte_buffer{0x00});
  CHECK(decode_property_block(empty, property_context::publish) == properties{});
}

TEST_CASE("a damaged property block is refused") {
  properties props;
  props.add(property_id::content_type, std::string{"text/plain"});
  byte_buffer block;
  encode_property_block(props, block);
  for (std::size_t cut = 0; cut < block.size(); ++cut) {
    byte_buffer shorter(block.begin(), block.begin() + static_cast<std::ptrdiff_t>(cut));
    CHECK_FALSE(decode_property_block(shorter, property_context::publish));
  }
  byte_buffer longer = block;
  longer.push_back(0);
  CHECK_FALSE(decode_property_block(longer, property_context::publish));
  // Session Expiry Interval has no place in a PUBLISH.
  properties misplaced;
  misplaced.add(property_id::session_expiry_interval, 10u);
  byte_buffer wrong;
  encode_property_block(misplaced, wrong);
  CHECK_FALSE(decode_property_block(wrong, property_context::publish));
}
