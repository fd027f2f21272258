#pragma once

#include <cstdint>
#include <list>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/core/messages.hpp"
#include "actors/core/metrics.hpp"

namespace convoy {

// One message or subscription refused or dropped for a client.
struct refusal_record {
  epoch_ms at = 0;
  std::string topic;             // topic or filter, empty when unknown
  std::string reason;            // the metrics counter it was counted under
  std::uint8_t reason_code = 0;  // the MQTT reason code the client got or would get; 0: none
  bool inbound = false;          // from the client (PUBLISH, SUBSCRIBE) or to it (a delivery)
};

// Session -> refusal log: record this for client_id.
struct refusal_event {
  std::string client_id;
  refusal_record record;
};

// Anyone -> refusal log: the recent refusals of client_id, oldest first.
struct refusals_query {
  std::string client_id;
};

struct refusals_answer {
  std::vector<refusal_record> refusals;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, refusal_record& x) {
  return f(caf::meta::type_name("refusal_record"), x.at, x.topic, x.reason, x.reason_code,
           x.inbound);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, refusal_event& x) {
  return f(caf::meta::type_name("refusal_event"), x.client_id, x.record);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, refusals_query& x) {
  return f(caf::meta::type_name("refusals_query"), x.client_id);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, refusals_answer& x) {
  return f(caf::meta::type_name("refusals_answer"), x.refusals);
}

// The node's recent refusals per client, so operators can answer "why did
// vehicle X not get command Y": a ring of the last refusals_per_client for
// each of the last max_clients clients that had one (least recently
// refused forgotten first). Kept outside the sessions, which pay nothing
// for it while nothing is refused.
struct refusal_log_state {
  std::size_t refusals_per_client = 32;
  std::size_t max_clients = 20'000;
  struct ring {
    std::vector<refusal_record> records;  // at most refusals_per_client
    std::size_t next = 0;                 // where the next one goes once full
    std::list<std::string>::iterator age;
  };
  std::unordered_map<std::string, ring> clients;
  std::list<std::string> by_age;  // most recently refused first
  static inline const char* name = "refusal_log";
};

// The bounds are spawn arguments, which also keeps CAF 0.17 from spawning
// an argument-less function actor through a null pointer (see
// topic_shard.hpp).
caf::behavior refusal_log(caf::stateful_actor<refusal_log_state>* self,
                          std::size_t refusals_per_client, std::size_t max_clients);

// The reason code a client gets (or would get) for a refusal counted as c.
std::uint8_t reason_code_for(counter c);

}  // namespace convoy
