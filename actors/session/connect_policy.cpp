#include "actors/session/connect_policy.hpp"

#include <random>

namespace convoy {

using mqtt::property_id;
using mqtt::reason_code;

std::string make_assigned_client_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char hex[] = "0123456789abcdef";
  std::string id = "convoy-";
  for (int i = 0; i < 24; ++i)
    id += hex[rng() % 16];
  return id;
}

std::variant<connection_params, reason_code> accept_connect(const mqtt::connect_packet& c,
                                                            const broker_settings& settings,
                                                            const std::string& assigned_id) {
  const bool v5 = c.version == mqtt::protocol_version::v5;
  connection_params p;
  p.version = c.version;
  p.clean_start = c.clean_start;
  p.client_id = c.client_id;
  if (p.client_id.empty()) {
    // 3.1.1 assigns an id only to a clean session; a persistent session
    // without a name could never be resumed.
    if (!v5 && !c.clean_start) return reason_code::client_identifier_not_valid;
    p.client_id = assigned_id;
    p.assigned_client_id = true;
  }

  // The one enhanced authentication method: a JSON Web Token as
  // Authentication Data, renewed by AUTH before it expires.
  if (const auto* method = v5 ? c.props.string(property_id::authentication_method) : nullptr) {
    if (*method != jwt_authentication_method || !settings.jwt_authentication)
      return reason_code::bad_authentication_method;
    p.enhanced_auth = true;
  }

  if (v5) {
    std::uint32_t requested = c.props.number(property_id::session_expiry_interval).value_or(0);
    p.session_expiry = std::min(requested, settings.max_session_expiry);
    p.session_expiry_lowered = requested > settings.max_session_expiry;
    p.client_receive_maximum =
        static_cast<std::uint16_t>(c.props.number(property_id::receive_maximum).value_or(65535));
    p.client_maximum_packet_size =
        c.props.number(property_id::maximum_packet_size).value_or(mqtt::max_packet_size_limit);
    p.client_topic_alias_maximum =
        static_cast<std::uint16_t>(c.props.number(property_id::topic_alias_maximum).value_or(0));
    p.request_problem_information =
        c.props.number(property_id::request_problem_information).value_or(1) == 1;
  } else {
    // A 3.1.1 persistent session lives until the node's longest session expiry.
    p.session_expiry = c.clean_start ? 0 : settings.max_session_expiry;
  }

  p.keep_alive = c.keep_alive;
  if (v5) {
    if (settings.max_keep_alive > 0 && c.keep_alive > settings.max_keep_alive) {
      p.keep_alive = settings.max_keep_alive;
      p.keep_alive_lowered = true;
    } else if (c.keep_alive == 0 && settings.default_keep_alive > 0) {
      p.keep_alive = settings.default_keep_alive;
      p.keep_alive_lowered = true;
    }
  }

  if (c.will) {
    const auto& w = *c.will;
    if (static_cast<std::uint8_t>(w.qos) > settings.maximum_qos)
      return reason_code::qos_not_supported;
    if (w.retain && !settings.retain_available) return reason_code::retain_not_supported;
    p.has_will = true;
    p.will.topic = w.topic;
    p.will.payload = w.payload;
    p.will.qos = w.qos;
    p.will.retain = w.retain;
    p.will.delay_interval = w.props.number(property_id::will_delay_interval).value_or(0);
    if (auto expiry = w.props.number(property_id::message_expiry_interval); expiry && *expiry > 0) {
      p.will.has_expiry = true;
      p.will.expiry_interval = *expiry;
    }
    p.will.props = forwarded_properties(w.props);
  }
  return p;
}

}  // namespace convoy
