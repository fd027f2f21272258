#pragma once

// Last known vehicle state: the latest value of every telemetry field of a
// vehicle with when it came, and a bounded history of the latest changes.
// Held by vehicle state shard actors (actors/vehicle/vehicle_state_shard.hpp) by VIN.

#include <cstdint>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>

#include "actors/core/messages.hpp"

namespace convoy {

// One field's value: JSON text ("80", "\"parked\"", "{...}").
struct state_field {
  std::string name;  // "battery.soc": topic below telemetry/, then the JSON keys
  std::string value;
  epoch_ms at = 0;
};

struct vehicle_state {
  std::string vin;
  std::vector<state_field> fields;   // sorted by name
  std::vector<state_field> history;  // oldest first, at most state.history_size
  epoch_ms updated_at = 0;
};

// -> vehicle state shard: the vehicle's state. Answered with vehicle_state
// (an empty vin when nothing is known of it).
struct vehicle_state_request {
  std::string vin;
};

// Vehicle state shard -> the shard owning the VIN: a telemetry message
// that arrived at another shard of the shared subscription.
struct telemetry_forward {
  message_ref msg;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, state_field& x) {
  return f(caf::meta::type_name("state_field"), x.name, x.value, x.at);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, vehicle_state& x) {
  return f(caf::meta::type_name("vehicle_state"), x.vin, x.fields, x.history, x.updated_at);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, vehicle_state_request& x) {
  return f(caf::meta::type_name("vehicle_state_request"), x.vin);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, telemetry_forward& x) {
  return f(caf::meta::type_name("telemetry_forward"), x.msg);
}

// The fields a telemetry message sets: for a JSON object payload each leaf
// (nested keys joined with '.') under the topic's part below telemetry/;
// any other UTF-8 payload as one string field named by that part. Empty
// for payloads that are neither (binary) or topics without a VIN.
struct telemetry_reading {
  std::string vin;
  std::vector<state_field> fields;
};
telemetry_reading read_telemetry(const app_message& m, epoch_ms at);

}  // namespace convoy
