#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/packets.hpp"
#include "protocol/reason_code.hpp"
#include "protocol/types.hpp"

// The checks of a PUBLISH from a client, as pure functions of the packet and
// the node's limits: no actor, no session, so each is tested on its own
// (tests/unit/publish_checks_test.cpp). The session runs them in the order
// of on_publish and acts on the first that refuses.
namespace convoy::publish_checks {

// A check's verdict: success, or the reason code to refuse with and the
// reason string that tells an MQTT 5 client why.
struct verdict {
  mqtt::reason_code code = mqtt::reason_code::success;
  const char* why = "";
  bool accepted() const { return code == mqtt::reason_code::success; }
};

// What the node announced to its clients (CONNACK) and enforces.
struct limits {
  std::uint16_t topic_alias_maximum = 0;
  std::uint8_t maximum_qos = 2;
  bool retain_available = true;
  std::uint16_t receive_maximum = 65535;
  std::uint32_t max_topic_levels = 0;  // 0: any number of levels
};

// The topic aliases a client defined, index alias - 1; null until the first.
using alias_table = std::unique_ptr<std::vector<std::string>>;

// Resolves and records a Topic Alias (MQTT 5 3.3.2.3.4): a PUBLISH with an
// alias and a topic sets it, one with an alias and no topic uses it. An
// alias of 0 or above the Topic Alias Maximum is Topic Alias Invalid; an
// unknown alias, or neither alias nor topic, a Protocol Error. On success
// `topic` is the topic the PUBLISH is for.
verdict resolve_topic_alias(std::string& topic, std::optional<std::uint32_t> alias,
                            std::uint16_t topic_alias_maximum, alias_table& aliases);

// QoS above the announced Maximum QoS (3.2.2.3.4).
verdict check_qos(mqtt::qos qos, std::uint8_t maximum_qos);

// RETAIN while retained messages are not available (3.2.2.3.5).
verdict check_retain(bool retain, bool retain_available);

// Properties a client may not send or may not send like this: a
// Subscription Identifier (3.3.4), a Response Topic that is no topic name
// (3.3.2.3.5).
verdict check_properties(const mqtt::properties& props);

// One QoS 1/2 PUBLISH more than the node's Receive Maximum while `in_flight`
// are unacknowledged (3.3.4). Receive Maximum is announced to MQTT 5 clients
// only: a 3.1.1 client is bounded by its 65535 packet ids instead.
verdict check_receive_maximum(mqtt::protocol_version version, mqtt::qos qos, std::size_t in_flight,
                              std::uint16_t receive_maximum);

// Levels of a topic or filter; "$share/group/" counts as part of it.
std::uint32_t topic_levels(std::string_view topic);

// More topic levels than mqtt.max_topic_levels allows: the message is
// refused (Topic Name Invalid), the connection stays.
verdict check_topic_levels(std::string_view topic, std::uint32_t max_topic_levels);

// The checks that close the connection when they refuse, before the
// session looks at its own state: alias, QoS, retain, properties.
verdict check_packet(mqtt::publish_packet& p, const limits& l, alias_table& aliases);

}  // namespace convoy::publish_checks
