#include "actors/session/publish_checks.hpp"

#include <algorithm>

#include "protocol/topic.hpp"

namespace convoy::publish_checks {

using mqtt::property_id;
using mqtt::reason_code;

verdict resolve_topic_alias(std::string& topic, std::optional<std::uint32_t> alias,
                            std::uint16_t topic_alias_maximum, alias_table& aliases) {
  if (!alias) {
    if (topic.empty()) return {reason_code::protocol_error, "PUBLISH without topic or topic alias"};
    return {};
  }
  if (*alias == 0 || *alias > topic_alias_maximum)
    return {reason_code::topic_alias_invalid, "topic alias 0 or above the Topic Alias Maximum"};
  // Most clients define no alias and pay only for the pointer.
  if (!aliases) aliases = std::make_unique<std::vector<std::string>>();
  auto& table = *aliases;
  if (table.size() < *alias) table.resize(*alias);
  std::string& slot = table[*alias - 1];
  if (!topic.empty()) {
    slot = topic;
    return {};
  }
  if (slot.empty()) return {reason_code::protocol_error, "topic alias used before it was set"};
  topic = slot;
  return {};
}

verdict check_qos(mqtt::qos qos, std::uint8_t maximum_qos) {
  if (static_cast<std::uint8_t>(qos) > maximum_qos)
    return {reason_code::qos_not_supported, "QoS above the Maximum QoS"};
  return {};
}

verdict check_retain(bool retain, bool retain_available) {
  if (retain && !retain_available)
    return {reason_code::retain_not_supported, "retained messages are disabled"};
  return {};
}

verdict check_properties(const mqtt::properties& props) {
  if (props.contains(property_id::subscription_identifier))
    return {reason_code::protocol_error, "Subscription Identifier in a PUBLISH from a client"};
  if (const auto* response_topic = props.string(property_id::response_topic);
      response_topic && mqtt::validate_topic_name(*response_topic) != reason_code::success)
    return {reason_code::protocol_error, "Response Topic is not a topic name"};
  return {};
}

verdict check_receive_maximum(mqtt::protocol_version version, mqtt::qos qos, std::size_t in_flight,
                              std::uint16_t receive_maximum) {
  if (version == mqtt::protocol_version::v5 && qos != mqtt::qos::at_most_once &&
      in_flight >= receive_maximum)
    return {reason_code::receive_maximum_exceeded,
            "more QoS 1/2 PUBLISHes unacknowledged than Receive Maximum"};
  return {};
}

std::uint32_t topic_levels(std::string_view topic) {
  return static_cast<std::uint32_t>(std::count(topic.begin(), topic.end(), '/')) + 1;
}

verdict check_topic_levels(std::string_view topic, std::uint32_t max_topic_levels) {
  if (max_topic_levels > 0 && topic_levels(topic) > max_topic_levels)
    return {reason_code::topic_name_invalid, "more topic levels than mqtt.max_topic_levels"};
  return {};
}

verdict check_packet(mqtt::publish_packet& p, const limits& l, alias_table& aliases) {
  verdict v = resolve_topic_alias(p.topic, p.props.number(property_id::topic_alias),
                                  l.topic_alias_maximum, aliases);
  if (v.accepted()) v = check_qos(p.qos, l.maximum_qos);
  if (v.accepted()) v = check_retain(p.retain, l.retain_available);
  if (v.accepted()) v = check_properties(p.props);
  return v;
}

}  // namespace convoy::publish_checks
