// Writes the decoder fuzz seed corpus: one small file per packet type and
// protocol version, plus a stream of several packets per version. Each file is
// the selector byte decoder_check.hpp expects (0: no size limit) followed by
// the encoded packets. Files named v5_* and v311_* must decode completely in
// that version; tests/unit/fuzz_corpus_test.cpp checks that they do.
//
//   convoy_make_seeds tests/fuzz/corpus/decoder

#include <cstdio>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "protocol/encoder.hpp"
#include "protocol/packets.hpp"

using namespace convoy::mqtt;

namespace {

properties message_props() {
  return {{property_id::payload_format_indicator, 1u},
          {property_id::message_expiry_interval, 60u},
          {property_id::content_type, std::string{"text/plain"}},
          {property_id::response_topic, std::string{"reply/to"}},
          {property_id::correlation_data, std::string{"\x01\x02", 2}},
          {property_id::user_property, string_pair{"k", "v"}}};
}

properties ack_props() {
  return {{property_id::reason_string, std::string{"why"}},
          {property_id::user_property, string_pair{"k", "v"}}};
}

std::vector<std::pair<std::string, packet>> packets(protocol_version v) {
  const bool v5 = v == protocol_version::v5;
  std::vector<std::pair<std::string, packet>> out;

  connect_packet c;
  c.version = v;
  c.client_id = "client-1";
  c.keep_alive = 60;
  c.username = "user";
  c.password = "secret";
  c.will = will_message{"last/will", "gone", qos::at_least_once, true, {}};
  if (v5) {
    c.props = {{property_id::session_expiry_interval, 3600u},
               {property_id::receive_maximum, 10u},
               {property_id::maximum_packet_size, 4096u},
               {property_id::topic_alias_maximum, 5u},
               {property_id::request_response_information, 1u},
               {property_id::request_problem_information, 1u},
               {property_id::authentication_method, std::string{"PLAIN"}},
               {property_id::authentication_data, std::string{"data"}},
               {property_id::user_property, string_pair{"k", "v"}}};
    c.will->props = message_props();
    c.will->props.add(property_id::will_delay_interval, 5);
  }
  out.emplace_back("connect", c);

  connack_packet ca;
  ca.session_present = true;
  if (v5) {
    ca.props = {{property_id::assigned_client_identifier, std::string{"auto-7"}},
                {property_id::server_keep_alive, 30u},
                {property_id::maximum_qos, 1u},
                {property_id::retain_available, 1u},
                {property_id::wildcard_subscription_available, 1u},
                {property_id::subscription_identifier_available, 1u},
                {property_id::shared_subscription_available, 0u},
                {property_id::response_information, std::string{"info"}},
                {property_id::server_reference, std::string{"other:1883"}},
                {property_id::reason_string, std::string{"welcome"}}};
  }
  out.emplace_back("connack", ca);

  publish_packet p;
  p.topic = "sensors/1/temp";
  p.payload = "21.5";
  p.qos = qos::exactly_once;
  p.retain = true;
  p.packet_id = 42;
  if (v5) {
    p.props = message_props();
    p.props.add(property_id::topic_alias, 3);
    p.props.add(property_id::subscription_identifier, 1);
    p.props.add(property_id::subscription_identifier, 300);
  }
  out.emplace_back("publish", p);

  const std::pair<const char*, packet_type> acks[] = {{"puback", packet_type::puback},
                                                      {"pubrec", packet_type::pubrec},
                                                      {"pubrel", packet_type::pubrel},
                                                      {"pubcomp", packet_type::pubcomp}};
  for (auto [name, type] : acks) {
    pub_ack_packet a;
    a.type = type;
    a.packet_id = 42;
    if (v5) {
      a.reason = type == packet_type::pubrel || type == packet_type::pubcomp
                     ? reason_code::packet_identifier_not_found
                     : reason_code::no_matching_subscribers;
      a.props = ack_props();
    }
    out.emplace_back(name, a);
  }

  subscribe_packet s;
  s.packet_id = 7;
  s.entries.push_back({"a/+/c", {qos::at_least_once}});
  s.entries.push_back(
      {"$share/g/d/#", {qos::exactly_once, true, true, retain_handling::send_if_new_subscription}});
  if (v5) s.props = {{property_id::subscription_identifier, 99u}};
  out.emplace_back("subscribe", s);

  suback_packet sa;
  sa.packet_id = 7;
  sa.reasons = {reason_code::granted_qos_1, reason_code::unspecified_error};
  if (v5) sa.props = ack_props();
  out.emplace_back("suback", sa);

  unsubscribe_packet u;
  u.packet_id = 8;
  u.filters = {"a/+/c", "$share/g/d/#"};
  if (v5) u.props = {{property_id::user_property, string_pair{"k", "v"}}};
  out.emplace_back("unsubscribe", u);

  unsuback_packet ua;
  ua.packet_id = 8;
  if (v5) {
    ua.reasons = {reason_code::success, reason_code::no_subscription_existed};
    ua.props = ack_props();
  }
  out.emplace_back("unsuback", ua);

  out.emplace_back("pingreq", pingreq_packet{});
  out.emplace_back("pingresp", pingresp_packet{});

  disconnect_packet d;
  if (v5) {
    d.reason = reason_code::server_moved;
    d.props = {{property_id::session_expiry_interval, 0u},
               {property_id::server_reference, std::string{"other:1883"}}};
  }
  out.emplace_back("disconnect", d);

  if (v5) {
    auth_packet a;
    a.reason = reason_code::continue_authentication;
    a.props = {{property_id::authentication_method, std::string{"SCRAM-SHA-1"}},
               {property_id::authentication_data, std::string{"nonce"}}};
    out.emplace_back("auth", a);
  }
  return out;
}

bool write(const std::string& path, const byte_buffer& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  return static_cast<bool>(f);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus directory>\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  int files = 0;
  for (auto v : {protocol_version::v311, protocol_version::v5}) {
    const std::string prefix = v == protocol_version::v5 ? "v5_" : "v311_";
    byte_buffer stream{0x00};
    for (const auto& [name, p] : packets(v)) {
      byte_buffer bytes{0x00};
      encode(p, v, bytes);
      if (!write(dir + "/" + prefix + name, bytes)) return 1;
      ++files;
      encode(p, v, stream);
    }
    if (!write(dir + "/" + prefix + "stream", stream)) return 1;
    ++files;
  }
  std::printf("wrote %d seed files to %s\n", files, dir.c_str());
  return 0;
}
