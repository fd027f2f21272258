// Incremental decoding: a stream of packets cut anywhere decodes to the same
// packets, with "incomplete" until each one is whole. And the PUBLISH header
// encoder used for gather writes.

#include <doctest/doctest.h>

#include "protocol/decoder.hpp"
#include "protocol/encoder.hpp"
#include "tests/unit/codec_support.hpp"

using namespace convoy::mqtt;
using convoy::mqtt::test::options;
namespace test = convoy::mqtt::test;

namespace {

// Decodes what has arrived so far, like a connection's read loop does.
struct stream_decoder {
  explicit stream_decoder(protocol_version v) : version(v) {}

  void feed(byte_view chunk) {
    buffer.insert(buffer.end(), chunk.begin(), chunk.end());
    while (!failed) {
      decode_result r = decode(buffer, options(version));
      if (r.incomplete()) {
        CHECK(r.consumed == 0);
        return;
      }
      if (r.failed()) {
        failed = true;
        FAIL_CHECK("decode failed: " << test::name(r.error) << ": " << r.detail);
        return;
      }
      REQUIRE(r.consumed > 0);
      REQUIRE(r.consumed <= buffer.size());
      packets.push_back(std::move(r.value));
      buffer.erase(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(r.consumed));
    }
  }

  protocol_version version;
  byte_buffer buffer;
  std::vector<packet> packets;
  bool failed = false;
};

struct stream {
  byte_buffer bytes;
  std::vector<packet> packets;
  std::vector<std::size_t> ends;  // offset just past each packet

  void add(const packet& p, protocol_version v) {
    encode(p, v, bytes);
    packets.push_back(p);
    ends.push_back(bytes.size());
  }

  // How many packets are whole within the first n bytes.
  std::size_t whole_within(std::size_t n) const {
    std::size_t count = 0;
    while (count < ends.size() && ends[count] <= n)
      ++count;
    return count;
  }
};

properties some_props() {
  properties props;
  props.add(property_id::message_expiry_interval, 30);
  props.add_user_property("k", "v");
  return props;
}

stream small_v5_stream() {
  stream s;
  connect_packet c;
  c.client_id = "client";
  c.will = will_message{"w", "gone", qos::at_least_once, false, some_props()};
  s.add(c, protocol_version::v5);
  s.add(publish_packet{"a/b", "payload", qos::at_least_once, false, false, 1, some_props()},
        protocol_version::v5);
  s.add(pub_ack_packet{packet_type::puback, 1, reason_code::success, {}}, protocol_version::v5);
  s.add(pingreq_packet{}, protocol_version::v5);
  s.add(subscribe_packet{2, {{"a/#", {qos::exactly_once}}}, {}}, protocol_version::v5);
  s.add(disconnect_packet{}, protocol_version::v5);
  return s;
}

stream full_v5_stream() {
  const auto v = protocol_version::v5;
  stream s = small_v5_stream();
  s.add(connack_packet{true,
                       reason_code::success,
                       {{property_id::reason_string, std::string{"welcome"}},
                        {property_id::user_property, string_pair{"k", "v"}}}},
        v);
  // 300 bytes of payload: a two-byte remaining length.
  s.add(publish_packet{"big", std::string(300, 'x'), qos::exactly_once, true, false, 3, {}}, v);
  s.add(pub_ack_packet{packet_type::pubrec, 3, reason_code::success, {}}, v);
  s.add(pub_ack_packet{packet_type::pubrel, 3, reason_code::success, {}}, v);
  s.add(pub_ack_packet{packet_type::pubcomp, 3, reason_code::packet_identifier_not_found, {}}, v);
  s.add(suback_packet{2, {reason_code::granted_qos_2}, {}}, v);
  s.add(unsubscribe_packet{4, {"a/#"}, {}}, v);
  s.add(unsuback_packet{4, {reason_code::success}, {}}, v);
  s.add(pingresp_packet{}, v);
  s.add(auth_packet{reason_code::continue_authentication, {}}, v);
  s.add(disconnect_packet{reason_code::server_shutting_down, {}}, v);
  return s;
}

stream v311_stream() {
  const auto v = protocol_version::v311;
  stream s;
  connect_packet c;
  c.version = v;
  c.client_id = "client";
  c.username = "u";
  c.password = "p";
  s.add(c, v);
  s.add(connack_packet{}, v);
  s.add(publish_packet{"a/b", std::string(200, 'y'), qos::at_least_once, false, false, 9, {}}, v);
  s.add(pub_ack_packet{packet_type::puback, 9, reason_code::success, {}}, v);
  s.add(subscribe_packet{2, {{"a/#", {qos::at_least_once}}}, {}}, v);
  s.add(suback_packet{2, {reason_code::granted_qos_1}, {}}, v);
  s.add(unsubscribe_packet{3, {"a/#"}, {}}, v);
  s.add(unsuback_packet{3, {}, {}}, v);
  s.add(pingreq_packet{}, v);
  s.add(pingresp_packet{}, v);
  s.add(disconnect_packet{}, v);
  return s;
}

void check_every_split(const stream& s, protocol_version v) {
  for (std::size_t k = 0; k <= s.bytes.size(); ++k) {
    CAPTURE(k);
    stream_decoder d(v);
    d.feed(byte_view{s.bytes}.first(k));
    REQUIRE(d.packets.size() == s.whole_within(k));
    d.feed(byte_view{s.bytes}.subspan(k));
    REQUIRE(d.packets == s.packets);
    CHECK(d.buffer.empty());
  }
}

void check_byte_by_byte(const stream& s, protocol_version v) {
  stream_decoder d(v);
  for (std::size_t i = 0; i < s.bytes.size(); ++i) {
    d.feed(byte_view{s.bytes}.subspan(i, 1));
    REQUIRE(d.packets.size() == s.whole_within(i + 1));
  }
  CHECK(d.packets == s.packets);
  CHECK(d.buffer.empty());
}

}  // namespace

TEST_CASE("a v5 stream split at every point decodes to the same packets") {
  stream s = full_v5_stream();
  check_every_split(s, protocol_version::v5);
  check_byte_by_byte(s, protocol_version::v5);
}

TEST_CASE("a v3.1.1 stream split at every point decodes to the same packets") {
  stream s = v311_stream();
  check_every_split(s, protocol_version::v311);
  check_byte_by_byte(s, protocol_version::v311);
}

TEST_CASE("a stream cut into three pieces at every pair of points") {
  stream s = small_v5_stream();
  for (std::size_t i = 0; i <= s.bytes.size(); ++i) {
    for (std::size_t j = i; j <= s.bytes.size(); ++j) {
      stream_decoder d(protocol_version::v5);
      d.feed(byte_view{s.bytes}.first(i));
      d.feed(byte_view{s.bytes}.subspan(i, j - i));
      if (d.packets.size() != s.whole_within(j)) {
        FAIL("cut at " << i << " and " << j);
      }
      d.feed(byte_view{s.bytes}.subspan(j));
      if (!(d.packets == s.packets)) FAIL("cut at " << i << " and " << j);
    }
  }
}

TEST_CASE("decode reads only the first packet of a buffer") {
  stream s = full_v5_stream();
  std::size_t offset = 0;
  for (std::size_t n = 0; n < s.packets.size(); ++n) {
    auto r = decode(byte_view{s.bytes}.subspan(offset), options(protocol_version::v5));
    REQUIRE(r.complete());
    CHECK(r.consumed == s.ends[n] - offset);
    CHECK(r.value == s.packets[n]);
    offset = s.ends[n];
  }
}

TEST_CASE("encode_publish_header followed by the payload is encode(publish)") {
  for (auto v : {protocol_version::v311, protocol_version::v5}) {
    for (auto q : {qos::at_most_once, qos::at_least_once, qos::exactly_once}) {
      // Payload sizes around the one/two and two/three byte remaining lengths.
      for (std::size_t size :
           {0, 1, 100, 117, 118, 119, 120, 127, 128, 16370, 16383, 16384, 70000}) {
        CAPTURE(v == protocol_version::v5);
        CAPTURE(static_cast<int>(q));
        CAPTURE(size);
        publish_packet p;
        p.topic = "sensors/1/temperature";
        p.payload.assign(size, 'z');
        p.qos = q;
        p.packet_id = q == qos::at_most_once ? 0 : 77;
        p.retain = size % 2 == 0;
        p.dup = q != qos::at_most_once && size % 3 == 0;
        if (size % 2) p.props = some_props();
        byte_buffer out{0xAA};  // appends after what is there
        encode_publish_header(p, p.payload.size(), v, out);
        out.insert(out.end(), p.payload.begin(), p.payload.end());
        byte_buffer expected{0xAA};
        encode(p, v, expected);
        CHECK(out == expected);
        auto r = decode(byte_view{out}.subspan(1), options(v));
        REQUIRE(r.complete());
        if (v == protocol_version::v311) p.props = {};  // 3.1.1 cannot carry them
        CHECK(r.value == packet{p});
      }
    }
  }
}

TEST_CASE("encoded_properties_size matches the encoded property block") {
  publish_packet p;
  p.topic = "t";
  CHECK(encoded_properties_size(p.props) == 1);
  p.props = some_props();
  p.props.add(property_id::subscription_identifier, 2097152);
  p.props.add(property_id::correlation_data, std::string(200, 'c'));
  // PUBLISH QoS 0 body: topic (3 bytes) and the property block.
  byte_buffer wire = encode(p, protocol_version::v5);
  frame_header h;
  REQUIRE(peek_frame(wire, h).complete());
  CHECK(h.remaining_length == 3 + encoded_properties_size(p.props));
}
