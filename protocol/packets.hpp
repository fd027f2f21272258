#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "protocol/properties.hpp"
#include "protocol/reason_code.hpp"
#include "protocol/types.hpp"

namespace convoy::mqtt {

// One struct per MQTT control packet. A struct holds the union of what MQTT
// 3.1.1 and 5.0 carry; fields that 3.1.1 lacks (properties, reason codes
// other than the return code) are ignored when encoding for 3.1.1.

struct will_message {
  std::string topic;
  std::string payload;
  mqtt::qos qos = qos::at_most_once;
  bool retain = false;
  properties props;  // MQTT 5 will properties
  friend bool operator==(const will_message&, const will_message&) = default;
};

struct connect_packet {
  protocol_version version = protocol_version::v5;
  std::string client_id;
  bool clean_start = true;
  std::uint16_t keep_alive = 0;
  std::optional<will_message> will;
  std::optional<std::string> username;
  std::optional<std::string> password;
  properties props;
  friend bool operator==(const connect_packet&, const connect_packet&) = default;
};

struct connack_packet {
  bool session_present = false;
  // In 3.1.1 this travels as the CONNACK return code, see to_v311_connack.
  reason_code reason = reason_code::success;
  properties props;
  friend bool operator==(const connack_packet&, const connack_packet&) = default;
};

struct publish_packet {
  std::string topic;
  std::string payload;
  mqtt::qos qos = qos::at_most_once;
  bool retain = false;
  bool dup = false;
  std::uint16_t packet_id = 0;  // present on the wire only for QoS 1 and 2
  properties props;
  friend bool operator==(const publish_packet&, const publish_packet&) = default;
};

// PUBACK, PUBREC, PUBREL and PUBCOMP share one layout.
struct pub_ack_packet {
  packet_type type = packet_type::puback;
  std::uint16_t packet_id = 0;
  reason_code reason = reason_code::success;
  properties props;
  friend bool operator==(const pub_ack_packet&, const pub_ack_packet&) = default;
};

enum class retain_handling : std::uint8_t {
  send_on_subscribe = 0,
  send_if_new_subscription = 1,
  do_not_send = 2,
};

struct subscription_options {
  mqtt::qos max_qos = qos::at_most_once;
  bool no_local = false;
  bool retain_as_published = false;
  mqtt::retain_handling retain_handling = retain_handling::send_on_subscribe;
  friend bool operator==(const subscription_options&, const subscription_options&) = default;
};

struct subscribe_entry {
  std::string filter;
  subscription_options options;
  friend bool operator==(const subscribe_entry&, const subscribe_entry&) = default;
};

struct subscribe_packet {
  std::uint16_t packet_id = 0;
  std::vector<subscribe_entry> entries;
  properties props;
  friend bool operator==(const subscribe_packet&, const subscribe_packet&) = default;
};

struct suback_packet {
  std::uint16_t packet_id = 0;
  // 3.1.1 return codes are the same bytes: 0x00-0x02 granted QoS, 0x80 failure.
  std::vector<reason_code> reasons;
  properties props;
  friend bool operator==(const suback_packet&, const suback_packet&) = default;
};

struct unsubscribe_packet {
  std::uint16_t packet_id = 0;
  std::vector<std::string> filters;
  properties props;
  friend bool operator==(const unsubscribe_packet&, const unsubscribe_packet&) = default;
};

struct unsuback_packet {
  std::uint16_t packet_id = 0;
  std::vector<reason_code> reasons;  // MQTT 5 only; 3.1.1 UNSUBACK has no payload
  properties props;
  friend bool operator==(const unsuback_packet&, const unsuback_packet&) = default;
};

struct pingreq_packet {
  friend bool operator==(const pingreq_packet&, const pingreq_packet&) = default;
};

struct pingresp_packet {
  friend bool operator==(const pingresp_packet&, const pingresp_packet&) = default;
};

struct disconnect_packet {
  reason_code reason = reason_code::success;
  properties props;
  friend bool operator==(const disconnect_packet&, const disconnect_packet&) = default;
};

struct auth_packet {
  reason_code reason = reason_code::success;
  properties props;
  friend bool operator==(const auth_packet&, const auth_packet&) = default;
};

using packet = std::variant<connect_packet, connack_packet, publish_packet, pub_ack_packet,
                            subscribe_packet, suback_packet, unsubscribe_packet, unsuback_packet,
                            pingreq_packet, pingresp_packet, disconnect_packet, auth_packet>;

packet_type type_of(const packet& p);

}  // namespace convoy::mqtt
