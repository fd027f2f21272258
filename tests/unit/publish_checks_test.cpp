#include <doctest/doctest.h>

#include <cstring>
#include <optional>
#include <string>

#include "actors/session/publish_checks.hpp"
#include "protocol/disconnect.hpp"
#include "protocol/encoder.hpp"

using namespace convoy;
using namespace convoy::publish_checks;
using mqtt::property_id;
using mqtt::protocol_version;
using mqtt::qos;
using mqtt::reason_code;

TEST_CASE("publish checks: a topic alias is set, then used") {
  alias_table aliases;
  std::string topic = "vehicles/v1/telemetry";
  CHECK(resolve_topic_alias(topic, 3, 16, aliases).accepted());
  REQUIRE(aliases);
  CHECK(aliases->size() == 3);
  std::string empty;
  CHECK(resolve_topic_alias(empty, 3, 16, aliases).accepted());
  CHECK(empty == "vehicles/v1/telemetry");
  // Set again: the alias now means the new topic.
  std::string other = "vehicles/v1/state";
  CHECK(resolve_topic_alias(other, 3, 16, aliases).accepted());
  std::string again;
  CHECK(resolve_topic_alias(again, 3, 16, aliases).accepted());
  CHECK(again == "vehicles/v1/state");
}

TEST_CASE("publish checks: no alias needs a topic and allocates nothing") {
  alias_table aliases;
  std::string topic = "a/b";
  CHECK(resolve_topic_alias(topic, std::nullopt, 16, aliases).accepted());
  CHECK_FALSE(aliases);
  std::string empty;
  auto v = resolve_topic_alias(empty, std::nullopt, 16, aliases);
  CHECK(v.code == reason_code::protocol_error);
  CHECK(std::string{v.why} == "PUBLISH without topic or topic alias");
}

TEST_CASE("publish checks: alias 0, above the maximum or unknown is refused") {
  alias_table aliases;
  std::string topic = "a/b";
  CHECK(resolve_topic_alias(topic, 0, 16, aliases).code == reason_code::topic_alias_invalid);
  CHECK(resolve_topic_alias(topic, 17, 16, aliases).code == reason_code::topic_alias_invalid);
  // A node that allows no aliases refuses every one.
  CHECK(resolve_topic_alias(topic, 1, 0, aliases).code == reason_code::topic_alias_invalid);
  std::string empty;
  auto v = resolve_topic_alias(empty, 5, 16, aliases);
  CHECK(v.code == reason_code::protocol_error);
  CHECK(std::string{v.why} == "topic alias used before it was set");
  CHECK(resolve_topic_alias(topic, 16, 16, aliases).accepted());
}

TEST_CASE("publish checks: QoS up to the Maximum QoS") {
  CHECK(check_qos(qos::at_most_once, 0).accepted());
  CHECK(check_qos(qos::at_least_once, 0).code == reason_code::qos_not_supported);
  CHECK(check_qos(qos::at_least_once, 1).accepted());
  CHECK(check_qos(qos::exactly_once, 1).code == reason_code::qos_not_supported);
  CHECK(check_qos(qos::exactly_once, 2).accepted());
}

TEST_CASE("publish checks: RETAIN only while retained messages are available") {
  CHECK(check_retain(false, false).accepted());
  CHECK(check_retain(true, true).accepted());
  CHECK(check_retain(true, false).code == reason_code::retain_not_supported);
}

TEST_CASE("publish checks: properties a client may not send") {
  mqtt::properties none;
  CHECK(check_properties(none).accepted());
  mqtt::properties with_id;
  with_id.add(property_id::subscription_identifier, 7u);
  CHECK(check_properties(with_id).code == reason_code::protocol_error);
  mqtt::properties good_response;
  good_response.add(property_id::response_topic, std::string{"replies/v1"});
  CHECK(check_properties(good_response).accepted());
  mqtt::properties wildcard_response;
  wildcard_response.add(property_id::response_topic, std::string{"replies/#"});
  auto v = check_properties(wildcard_response);
  CHECK(v.code == reason_code::protocol_error);
  CHECK(std::string{v.why} == "Response Topic is not a topic name");
}

TEST_CASE("publish checks: Receive Maximum binds MQTT 5 QoS 1/2 only") {
  CHECK(check_receive_maximum(protocol_version::v5, qos::at_least_once, 9, 10).accepted());
  CHECK(check_receive_maximum(protocol_version::v5, qos::at_least_once, 10, 10).code ==
        reason_code::receive_maximum_exceeded);
  CHECK(check_receive_maximum(protocol_version::v5, qos::exactly_once, 10, 10).code ==
        reason_code::receive_maximum_exceeded);
  // QoS 0 needs no acknowledgement and is never in flight.
  CHECK(check_receive_maximum(protocol_version::v5, qos::at_most_once, 10, 10).accepted());
  // 3.1.1 has no Receive Maximum: its 65535 packet ids bound it.
  CHECK(check_receive_maximum(protocol_version::v311, qos::at_least_once, 10, 10).accepted());
  CHECK(check_receive_maximum(protocol_version::v311, qos::exactly_once, 500, 10).accepted());
}

TEST_CASE("publish checks: topic levels") {
  CHECK(topic_levels("a") == 1);
  CHECK(topic_levels("a/b/c") == 3);
  CHECK(topic_levels("/") == 2);
  CHECK(topic_levels("$share/g/a/b") == 4);
  CHECK(check_topic_levels("a/b/c", 0).accepted());  // 0: no limit
  CHECK(check_topic_levels("a/b/c", 3).accepted());
  CHECK(check_topic_levels("a/b/c/d", 3).code == reason_code::topic_name_invalid);
}

TEST_CASE("publish checks: check_packet runs alias, QoS, retain and properties in order") {
  limits l;
  l.topic_alias_maximum = 4;
  l.maximum_qos = 1;
  l.retain_available = false;
  alias_table aliases;
  mqtt::publish_packet p;
  p.topic = "a/b";
  p.qos = qos::at_least_once;
  CHECK(check_packet(p, l, aliases).accepted());
  p.qos = qos::exactly_once;
  CHECK(check_packet(p, l, aliases).code == reason_code::qos_not_supported);
  p.retain = true;
  p.props.add(property_id::topic_alias, 9u);
  // The alias is checked first.
  CHECK(check_packet(p, l, aliases).code == reason_code::topic_alias_invalid);
  mqtt::publish_packet r;
  r.topic = "a/b";
  r.retain = true;
  CHECK(check_packet(r, l, aliases).code == reason_code::retain_not_supported);
}

TEST_CASE("disconnect bytes: MQTT 5 gets a DISCONNECT, 3.1.1 nothing") {
  auto v5 = mqtt::disconnect_bytes(protocol_version::v5, reason_code::receive_maximum_exceeded,
                                   "too many", mqtt::max_packet_size_limit);
  REQUIRE(v5);
  CHECK(v5->at(0) == 0xE0);
  CHECK(v5->at(2) == 0x93);
  std::string bytes(v5->begin(), v5->end());
  CHECK(bytes.find("too many") != std::string::npos);
  CHECK_FALSE(mqtt::disconnect_bytes(protocol_version::v311, reason_code::protocol_error, "why",
                                     mqtt::max_packet_size_limit));
}

TEST_CASE("disconnect bytes: the reason string goes only when it fits") {
  // E0, length, reason code, property length: 4 bytes without the string.
  auto small = mqtt::disconnect_bytes(protocol_version::v5, reason_code::protocol_error,
                                      "a reason string far longer than ten bytes", 10);
  REQUIRE(small);
  CHECK(small->size() <= 10);
  CHECK(small->at(0) == 0xE0);
  CHECK(small->at(2) == 0x82);
  std::string bytes(small->begin(), small->end());
  CHECK(bytes.find("reason") == std::string::npos);
  // No string: none sent.
  auto bare = mqtt::disconnect_bytes(protocol_version::v5, reason_code::session_taken_over, "",
                                     mqtt::max_packet_size_limit);
  REQUIRE(bare);
  CHECK(bare->at(2) == 0x8E);
  CHECK(std::string(bare->begin(), bare->end()).find('\x1f') == std::string::npos);
}

TEST_CASE("disconnect bytes: a Server Reference names where to go") {
  auto moved =
      mqtt::disconnect_bytes(protocol_version::v5, reason_code::use_another_server,
                             "not a member now", mqtt::max_packet_size_limit, "10.0.0.2:1883");
  REQUIRE(moved);
  CHECK(moved->at(2) == 0x9C);
  std::string bytes(moved->begin(), moved->end());
  CHECK(bytes.find("10.0.0.2:1883") != std::string::npos);
  CHECK(bytes.find("not a member now") != std::string::npos);
  // Too small for the reason string: the reference stays.
  auto tight = mqtt::disconnect_bytes(protocol_version::v5, reason_code::use_another_server,
                                      "not a member now", 24, "10.0.0.2:1883");
  REQUIRE(tight);
  std::string tight_bytes(tight->begin(), tight->end());
  CHECK(tight_bytes.find("10.0.0.2:1883") != std::string::npos);
  CHECK(tight_bytes.find("member") == std::string::npos);
}
