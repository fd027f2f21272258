#pragma once

#include <string>
#include <variant>

#include "actors/core/broker_context.hpp"
#include "actors/core/messages.hpp"
#include "protocol/packets.hpp"

namespace convoy {

// Checks a CONNECT against the node's limits and features and turns it into
// the parameters a session works with, or the reason code the CONNACK
// refuses it with. `assigned_id` is used when the client sent no client id
// and may have one assigned.
std::variant<connection_params, mqtt::reason_code> accept_connect(const mqtt::connect_packet& c,
                                                                  const broker_settings& settings,
                                                                  const std::string& assigned_id);

// The MQTT 5 Authentication Method of token logins.
inline constexpr std::string_view jwt_authentication_method = "JWT";

// A fresh client identifier for a client that sent none: "convoy-" and 24 hex digits.
std::string make_assigned_client_id();

}  // namespace convoy
