#pragma once

#include <cstdint>
#include <system_error>

namespace convoy::mqtt {

// MQTT 5.0 reason codes (spec 2.4). Values below 0x80 are success, 0x80 and
// above are failures. MQTT 3.1.1 has no reason codes on the wire; where a 3.1.1
// packet needs a result (CONNACK return code, SUBACK 0x80) it is mapped from
// these in one place (see connack_return_code_v311).
enum class reason_code : std::uint8_t {
  success = 0x00,  // also: normal disconnection, granted QoS 0
  granted_qos_1 = 0x01,
  granted_qos_2 = 0x02,
  disconnect_with_will_message = 0x04,
  no_matching_subscribers = 0x10,
  no_subscription_existed = 0x11,
  continue_authentication = 0x18,
  re_authenticate = 0x19,
  unspecified_error = 0x80,
  malformed_packet = 0x81,
  protocol_error = 0x82,
  implementation_specific_error = 0x83,
  unsupported_protocol_version = 0x84,
  client_identifier_not_valid = 0x85,
  bad_user_name_or_password = 0x86,
  not_authorized = 0x87,
  server_unavailable = 0x88,
  server_busy = 0x89,
  banned = 0x8A,
  server_shutting_down = 0x8B,
  bad_authentication_method = 0x8C,
  keep_alive_timeout = 0x8D,
  session_taken_over = 0x8E,
  topic_filter_invalid = 0x8F,
  topic_name_invalid = 0x90,
  packet_identifier_in_use = 0x91,
  packet_identifier_not_found = 0x92,
  receive_maximum_exceeded = 0x93,
  topic_alias_invalid = 0x94,
  packet_too_large = 0x95,
  message_rate_too_high = 0x96,
  quota_exceeded = 0x97,
  administrative_action = 0x98,
  payload_format_invalid = 0x99,
  retain_not_supported = 0x9A,
  qos_not_supported = 0x9B,
  use_another_server = 0x9C,
  server_moved = 0x9D,
  shared_subscriptions_not_supported = 0x9E,
  connection_rate_exceeded = 0x9F,
  maximum_connect_time = 0xA0,
  subscription_identifiers_not_supported = 0xA1,
  wildcard_subscriptions_not_supported = 0xA2,
};

inline constexpr bool is_error(reason_code rc) {
  return static_cast<std::uint8_t>(rc) >= 0x80;
}

// Spec name of the code, e.g. "Malformed Packet". Unknown values give "unknown reason code".
const char* to_string(reason_code rc);

// True if the byte is a reason code defined by MQTT 5.0.
bool is_known_reason_code(std::uint8_t value);

// MQTT 3.1.1 CONNACK return codes (spec 3.2.2.3).
enum class connack_return_code_v311 : std::uint8_t {
  accepted = 0,
  unacceptable_protocol_version = 1,
  identifier_rejected = 2,
  server_unavailable = 3,
  bad_user_name_or_password = 4,
  not_authorized = 5,
};

connack_return_code_v311 to_v311_connack(reason_code rc);
reason_code from_v311_connack(connack_return_code_v311 rc);

const std::error_category& reason_code_category();
std::error_code make_error_code(reason_code rc);

}  // namespace convoy::mqtt

template <>
struct std::is_error_code_enum<convoy::mqtt::reason_code> : std::true_type {};
