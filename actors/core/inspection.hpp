#pragma once

// Messages operators' tools (the HTTP API, /metrics) send to live actors to
// see and steer them. Serializable like every actor message, so they reach
// actors on any node.

#include <cstdint>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/meta/type_name.hpp>

#include "actors/core/messages.hpp"

namespace convoy {

// -> any long-lived actor (shards, registries, logs): answered with the
// number of messages waiting in its mailbox behind the probe, read by the
// actor itself, the only thread that may.
struct mailbox_probe {};

// -> session registry: client ids after `after` (in byte order) that start
// with `prefix`, at most `limit`. Answered with session_page.
struct session_page_request {
  std::string after;
  std::string prefix;
  std::uint32_t limit = 100;
};

struct session_page {
  std::vector<std::string> client_ids;
  std::vector<caf::actor> sessions;  // same order
  bool more = false;                 // further ids match after the last one
  std::uint64_t total = 0;           // sessions on the node
};

// -> session registry: the session of one client id. Answered with
// session_page holding it, or nothing.
struct session_lookup {
  std::string client_id;
};

// -> session: what it is and holds. Answered with session_summary.
struct session_summary_request {
  bool with_subscriptions = false;
};

struct session_summary {
  std::string client_id;
  std::string identity;  // who logged in; empty for anonymous clients
  std::string auth_method;
  std::string role;
  bool connected = false;
  std::string peer;       // "address:port" while connected
  std::string transport;  // tcp, tls, ws, wss
  std::uint8_t protocol_version = 5;
  std::uint16_t keep_alive = 0;
  std::uint32_t session_expiry = 0;  // seconds
  std::uint32_t subscription_count = 0;
  std::uint32_t inflight = 0;
  std::uint32_t queued = 0;
  std::uint32_t queued_bytes = 0;
  std::vector<subscription_record> subscriptions;  // when asked for
};

// -> session: disconnect the client (MQTT 5: DISCONNECT 0x98 Administrative
// action); the session stays as its expiry says. Answered with whether a
// client was connected.
struct kick_request {
  std::string why;
};

// -> topic shard: its retained messages whose topics match `filter`, in
// topic order after `after`, at most `limit`. Answered with retained_page.
struct retained_page_request {
  std::string filter = "#";
  std::string after;
  std::uint32_t limit = 100;
};

struct retained_page {
  std::vector<message_ref> messages;
  bool more = false;
};

// -> registry shard `shard_index` of `shard_count`: the vehicles it owns in
// VIN order after `after`, with the status and region asked for (empty:
// any), at most `limit`. Answered with vehicle_page.
struct vehicle_page_request {
  std::string after;
  std::uint32_t limit = 100;
  std::uint32_t shard_index = 0;
  std::uint32_t shard_count = 1;
  std::string status;
  std::string region;
};

struct vehicle_page {
  std::vector<vehicle_record> vehicles;
  bool more = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, vehicle_page_request& x) {
  return f(caf::meta::type_name("vehicle_page_request"), x.after, x.limit, x.shard_index,
           x.shard_count, x.status, x.region);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, vehicle_page& x) {
  return f(caf::meta::type_name("vehicle_page"), x.vehicles, x.more);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, retained_page_request& x) {
  return f(caf::meta::type_name("retained_page_request"), x.filter, x.after, x.limit);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, retained_page& x) {
  return f(caf::meta::type_name("retained_page"), x.messages, x.more);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, mailbox_probe&) {
  return f(caf::meta::type_name("mailbox_probe"));
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, session_page_request& x) {
  return f(caf::meta::type_name("session_page_request"), x.after, x.prefix, x.limit);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, session_page& x) {
  return f(caf::meta::type_name("session_page"), x.client_ids, x.sessions, x.more, x.total);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, session_lookup& x) {
  return f(caf::meta::type_name("session_lookup"), x.client_id);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, session_summary_request& x) {
  return f(caf::meta::type_name("session_summary_request"), x.with_subscriptions);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, session_summary& x) {
  return f(caf::meta::type_name("session_summary"), x.client_id, x.identity, x.auth_method, x.role,
           x.connected, x.peer, x.transport, x.protocol_version, x.keep_alive, x.session_expiry,
           x.subscription_count, x.inflight, x.queued, x.queued_bytes, x.subscriptions);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, kick_request& x) {
  return f(caf::meta::type_name("kick_request"), x.why);
}

}  // namespace convoy
