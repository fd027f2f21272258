#pragma once

#include <string>

#include <caf/event_based_actor.hpp>

#include "actors/core/broker_context.hpp"

namespace convoy {

// The registry's MQTT control topic, after mosquitto's $CONTROL convention:
// a client allowed to publish here (auth.acl_file) sends JSON commands,
//
//   {"commands": [{"command": "createVehicle", "vin": "WVW...", "model": "ID.4",
//                  "region": "eu-west"},
//                 {"command": "addDevice", "vin": "WVW...", "deviceId": "tcu-1",
//                  "fingerprint": "ab:cd:..."}]}
//
// and the answers are published, in the same order, to the request's MQTT 5
// Response Topic (with its Correlation Data) or else to control_topic +
// "/response":
//
//   {"responses": [{"command": "createVehicle", "ok": true, "vehicle": {...}},
//                  {"command": "addDevice", "ok": false, "error": "..."}]}
inline constexpr std::string_view registry_control_topic = "$CONTROL/convoy/registry/v1";
// The same for clients: {"commands": [{"command": "getRefusals", "clientId": "..."}]}
// answers with the client's recent refusals (actors/core/refusal_log.hpp).
inline constexpr std::string_view clients_control_topic = "$CONTROL/convoy/clients/v1";
// And for the node: {"commands": [{"command": "getMetrics"}]} answers with
// every counter (refusals and drops by reason among them) and gauge.
inline constexpr std::string_view node_control_topic = "$CONTROL/convoy/node/v1";

// Session -> control actor: a PUBLISH to the control topic.
struct control_request {
  std::string topic;  // which control topic
  std::string payload;
  std::string response_topic;  // empty: the default one
  std::string correlation_data;
  std::string client_id;  // for the log
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, control_request& x) {
  return f(caf::meta::type_name("control_request"), x.topic, x.payload, x.response_topic,
           x.correlation_data, x.client_id);
}

caf::behavior registry_control(caf::event_based_actor* self, context_ptr ctx);

}  // namespace convoy
