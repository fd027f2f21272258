#pragma once

// Consent: which services (subjects) may have a vehicle's data and run its
// commands, for which purposes, until when. The records live in consent
// shard actors (actors/vehicle/consent_shard.hpp), sharded by VIN, and in storage.

#include <cstdint>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>

#include "actors/core/messages.hpp"
#include "actors/vehicle/consent_catalog.hpp"

namespace convoy {

struct consent_record {
  std::string vin;
  std::string subject;  // the service's identity (its login)
  std::string purpose;  // a purpose of the catalog (actors/vehicle/consent_catalog.hpp)
  epoch_ms granted_at = 0;
  epoch_ms expires_at = 0;  // 0: until revoked
  std::string granted_by;
  bool active(epoch_ms now) const { return expires_at == 0 || expires_at > now; }
};

// -> consent shard. Answered with consent_result.
struct consent_grant {
  consent_record record;
};
// -> consent shard. Answered with consent_result (ok false: there was none).
struct consent_revoke {
  std::string vin;
  std::string subject;
  std::string purpose;
  std::string revoked_by;
};
// -> consent shard: the vehicle's consents in force. Answered with consent_list.
struct consent_list_request {
  std::string vin;
};
struct consent_list {
  std::vector<consent_record> records;
};

struct consent_result {
  bool ok = false;
  std::string error;
  consent_record record;
};

// -> consent shard: may `subject` have `topic` of `vin` (a telemetry
// message) or run `command` on it? Exactly one of topic and command is set.
// Answered with consent_verdict.
struct consent_check {
  std::string vin;
  std::string subject;
  std::string topic;
  std::string command;
};
struct consent_verdict {
  bool allowed = false;
  std::string purpose;  // the consent that allows it
  std::string reason;   // why not
};

// Node -> topic shard at start-up: the purposes of consent and the consent
// shards. A delivery to a service's subscription (subscribe_request::
// consent_subject) of a topic some purpose covers goes to the VIN's
// consent shard as a gated_delivery instead of to the session.
struct consent_gate_setup {
  std::vector<consent_purpose> purposes;
  std::vector<caf::actor> shards;
};

// Topic shard -> consent shard: deliver `d` to `session` if `subject` has
// the vehicle's consent for the topic; otherwise it is withheld (counted,
// and a stored copy released through delivery_withheld).
struct gated_delivery {
  std::string subject;
  caf::actor session;
  delivery d;
};

// Consent shard -> session: a stored delivery withheld for want of consent;
// the session releases its queue entry.
struct delivery_withheld {
  delivery d;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, consent_purpose& x) {
  return f(caf::meta::type_name("consent_purpose"), x.name, x.description, x.topics, x.commands);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, consent_gate_setup& x) {
  return f(caf::meta::type_name("consent_gate_setup"), x.purposes, x.shards);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, gated_delivery& x) {
  return f(caf::meta::type_name("gated_delivery"), x.subject, x.session, x.d);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, delivery_withheld& x) {
  return f(caf::meta::type_name("delivery_withheld"), x.d);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, consent_record& x) {
  return f(caf::meta::type_name("consent_record"), x.vin, x.subject, x.purpose, x.granted_at,
           x.expires_at, x.granted_by);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, consent_grant& x) {
  return f(caf::meta::type_name("consent_grant"), x.record);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, consent_revoke& x) {
  return f(caf::meta::type_name("consent_revoke"), x.vin, x.subject, x.purpose, x.revoked_by);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, consent_list_request& x) {
  return f(caf::meta::type_name("consent_list_request"), x.vin);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, consent_list& x) {
  return f(caf::meta::type_name("consent_list"), x.records);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, consent_result& x) {
  return f(caf::meta::type_name("consent_result"), x.ok, x.error, x.record);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, consent_check& x) {
  return f(caf::meta::type_name("consent_check"), x.vin, x.subject, x.topic, x.command);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, consent_verdict& x) {
  return f(caf::meta::type_name("consent_verdict"), x.allowed, x.purpose, x.reason);
}

}  // namespace convoy
