#pragma once

#include <cstdint>
#include <string>

#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/core/broker_context.hpp"
#include "actors/core/messages.hpp"

namespace convoy {

// Session -> the VIN's rule worker: message `msg` matched republish rule
// `rule`, whose settings travel along (the rule set may be replaced before
// the worker gets to it).
struct rule_hit {
  std::string rule;
  std::string republish_topic;
  std::string subject;
  std::uint8_t format = 0;  // payload_format
  message_ref msg;
};

// Republishes high-priority telemetry for services: the vehicle must be
// registered and active, the rule's subject (if any) must have the
// vehicle's consent for the topic, and the message goes out decoded and
// enriched from the registry ({"vin", "model", "region", "topic", "at",
// "data"}) on the rule's republish topic. One worker per slice of VINs, so
// a vehicle's messages keep their order through the registry and consent
// checks (each answers in order).
struct rule_worker_state {
  context_ptr ctx;
  inflow_ptr inflow;
  static inline const char* name = "rule_worker";
};

using rule_worker_actor = caf::stateful_actor<rule_worker_state>;

// `index` only spares CAF 0.17 an argument-less function actor.
caf::behavior rule_worker(rule_worker_actor* self, std::uint32_t index, context_ptr ctx,
                          inflow_ptr inflow);

// The republish topic of a rule for one message: {vin} and {topic} (the
// part of the topic after vehicles/{vin}/) filled in; empty when that
// makes no topic name.
std::string republish_topic(std::string_view pattern, std::string_view topic);

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, rule_hit& x) {
  return f(caf::meta::type_name("rule_hit"), x.rule, x.republish_topic, x.subject, x.format, x.msg);
}

}  // namespace convoy
