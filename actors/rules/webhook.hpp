#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>

#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/core/inflow_bound.hpp"
#include "actors/core/messages.hpp"

namespace convoy {

// Where a webhook's batches go: the runtime's HTTP client implements it
// (runtime/rules/webhook_client), so the actor never touches a socket. `done`
// runs on the client's thread; it should only send a message.
class webhook_transport {
 public:
  virtual ~webhook_transport() = default;
  // POSTs `body` (a JSON array); done(true) on a 2xx answer, else
  // done(false, why).
  virtual void post(std::string body, std::function<void(bool ok, std::string why)> done) = 0;
};

using transport_ptr = std::shared_ptr<webhook_transport>;

struct webhook_spec {
  std::string name;
  std::string url;
  std::string ca_file;  // https: the CAs that sign the endpoint's certificate (empty: the system's)
  std::uint32_t batch_size = 100;    // items per POST at most
  std::uint32_t batch_ms = 1000;     // a partial batch waits at most this long
  std::uint32_t max_queue = 10'000;  // items held while the endpoint is down; then the oldest go
  std::uint32_t timeout_ms = 5000;
  std::uint32_t retry_initial_ms = 500;  // back-off after a failure, doubling ...
  std::uint32_t retry_max_ms = 30'000;   // ... up to this
  bool operator==(const webhook_spec&) const = default;
};

// Session -> webhook: a message a rule sends to it.
struct webhook_item {
  message_ref msg;
};

// Rule book -> webhook: its definition changed (its transport already
// posts to the new URL).
struct webhook_reconfigure {
  webhook_spec spec;
};

// API -> webhook: how it is doing, answered with webhook_status.
struct webhook_status_request {};
struct webhook_status {
  std::uint64_t queued = 0;  // items not yet posted, the POST in flight's among them
  bool failing = false;      // the last POST failed; retrying with back-off
};

// Transport -> webhook: how the batch of `count` items fared.
struct webhook_result {
  bool ok = false;
  std::string why;
  std::uint32_t count = 0;
};

// Batches a webhook's messages into POSTs of JSON arrays, one POST in
// flight at a time. A failed POST keeps its items at the head of the queue
// and is retried with exponential back-off, so an endpoint that is down
// loses nothing until the queue is full (then the oldest items are dropped
// and counted); sessions hand items over without waiting, so delivery and
// archives never wait for a webhook.
struct webhook_state {
  webhook_spec spec;
  transport_ptr transport;
  inflow_ptr inflow;
  std::deque<std::string> queue;  // JSON items
  bool in_flight = false;
  std::uint32_t in_flight_items = 0;  // queue items the POST in flight holds (at its head)
  bool timer_armed = false;
  bool failing = false;  // the last POST failed (logged once per outage)
  std::uint32_t backoff_ms = 0;
  static inline const char* name = "webhook";
};

using webhook_actor = caf::stateful_actor<webhook_state>;

caf::behavior webhook(webhook_actor* self, webhook_spec spec, transport_ptr transport,
                      inflow_ptr inflow);

// A message as a webhook item: {"vin", "topic", "at", "qos"} and "data"
// (decoded JSON), "payload" (other UTF-8) or "payloadBase64".
std::string webhook_item_json(const app_message& m);

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, webhook_item& x) {
  return f(caf::meta::type_name("webhook_item"), x.msg);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, webhook_spec& x) {
  return f(caf::meta::type_name("webhook_spec"), x.name, x.url, x.ca_file, x.batch_size, x.batch_ms,
           x.max_queue, x.timeout_ms, x.retry_initial_ms, x.retry_max_ms);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, webhook_reconfigure& x) {
  return f(caf::meta::type_name("webhook_reconfigure"), x.spec);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, webhook_status_request&) {
  return f(caf::meta::type_name("webhook_status_request"));
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, webhook_status& x) {
  return f(caf::meta::type_name("webhook_status"), x.queued, x.failing);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, webhook_result& x) {
  return f(caf::meta::type_name("webhook_result"), x.ok, x.why, x.count);
}

}  // namespace convoy
