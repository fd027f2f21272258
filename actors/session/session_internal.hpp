#pragma once

// What the files of the session actor share (session.cpp, session_*.cpp);
// nothing outside actors/session includes this. session.hpp says what a
// session is, session.cpp how its phases change and which message goes
// where; the other files hold one concern each:
//
//   session_attach.cpp         attach, takeover, CONNACK, restore at start-up
//   session_inbound.cpp        PUBLISH from the client and its PUBACK/PUBREC/PUBCOMP
//   publish_checks.cpp         the checks of such a PUBLISH, pure functions
//   session_outbound.cpp       deliveries, the in-flight window, the client's acks
//   session_queue.cpp          the offline queue, its bounds and expiry
//   session_subscriptions.cpp  SUBSCRIBE, UNSUBSCRIBE, the shards that hold them
//   session_access.cpp         authorization, registry changes, tokens
//   session_will.cpp           the will and its delay
//   session_move.cpp           moving to or from another member of a cluster

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <caf/event_based_actor.hpp>

#include "actors/core/access_policy.hpp"
#include "actors/core/inspection.hpp"
#include "actors/core/metrics.hpp"
#include "actors/core/storage_gate.hpp"
#include "actors/routing/session_moves.hpp"
#include "actors/session/session.hpp"
#include "protocol/packets.hpp"

namespace convoy::session_detail {

using mqtt::packet_type;
using mqtt::property_id;
using mqtt::reason_code;

// Requests to topic shards carry no timeout. CAF keeps every request timeout
// in one clock shared by all actors, a tree insert and erase under a mutex
// per QoS 1 publish (8 % of the broker's CPU in fan-in profiles). A session
// only ever talks to its own node's shards, even in a cluster: a local shard
// always answers, a shard that is gone answers with an error, and a shard's
// own requests to other members are bounded (actors/routing/peer_routes.hpp).
constexpr auto shard_timeout = caf::infinite;

inline bool is_v5(const session_state& st) {
  return st.params.version == mqtt::protocol_version::v5;
}

inline bool expired(const app_message& m, epoch_ms now) {
  return m.expires_at != 0 && m.expires_at <= now;
}

inline std::size_t message_bytes(const delivery& d) {
  return d.msg->size_in_bytes();
}

inline void ignore_outcome(bool) {}

// A write the storage refused (over its bound of pending writes) is counted.
inline bool accepted(bool submitted) {
  if (!submitted) metrics::add(counter::refused_storage_busy);
  return submitted;
}

// MQTT calls a session persistent when it outlives its connection.
inline bool is_persistent(const session_state& st) {
  return st.params.session_expiry > 0;
}

// A persistent session on a node with storage keeps its QoS 1/2 messages
// on disk: the shards store them in its queue before the publisher's PUBACK.
inline bool stores_messages(const session_state& st) {
  return is_persistent(st) && st.ctx->store != nullptr;
}

// Submits a write with submit(completion) and runs then(stored) once it is
// durable (true), or failed or was refused (false). The outcome of this very
// write, through the storage gate (see storage_gate.hpp).
template <class Submit, class Then>
void store_then(session_actor* self, Submit submit, Then then) {
  const caf::actor& gate = self->state.ctx->storage_gate;
  auto ticket = next_write_ticket();
  if (!submit(gate_completion(gate, ticket))) return then(false);
  self->request(gate, caf::infinite, await_atom::value, ticket)
      .then([then](bool stored) mutable { then(stored); },
            [then](caf::error&) mutable { then(false); });
}

// The rules of this client's role under the policy in force. The role is
// looked up again each time, so a reloaded policy applies at once.
struct access_view {
  policy_ptr policy;          // null: no authorization, everything is allowed
  const access_role* role{};  // null with a policy: the client may do nothing
  access_template::subject who;
};

// ---- phase (session.cpp): the only places that change it ----

// offline -> connecting, or connecting/online -> connecting with a new
// connection after a takeover.
void attach_sink(session_state& st, sink_ptr sink);
// connecting -> online: the CONNACK is on its way.
void connack_sent(session_state& st);
// connecting/online -> offline: the connection is gone.
void detach_sink(session_state& st);
// any -> ending: the session ends, its actor quits.
void begin_ending(session_state& st);

// ---- session.cpp: refusals, lifecycle, storage of the record ----

// Remembers a refusal in the node's refusal log, where operators look up
// why a client did not get (or could not send) a message.
void record_refusal(const session_state& st, counter reason, std::string_view topic, bool inbound);
// Counts a message (or subscription) dropped or refused for this client;
// logged once per reason and session, naming `topic` (the filter for
// subscriptions).
void count_drop(session_state& st, counter reason, std::string_view topic = {},
                bool inbound = false);
void count_refused_subscription(session_state& st, counter reason, std::string_view filter);
// Writes the session's record when what a restart must bring back changed;
// true when a write was submitted, and `done` then hears when it is durable.
bool persist(session_actor* self, epoch_ms disconnected_at = 0,
             durable_store::completion done = ignore_outcome);
void end_session(session_actor* self);
void tell_presence(session_actor* self, bool online);
void on_connection_lost(session_actor* self, bool graceful);
// Queues the DISCONNECT that tells an MQTT 5 client why its connection
// ends (mqtt::disconnect_bytes); nothing for 3.1.1.
void say_goodbye(session_actor* self, reason_code rc, std::string_view why = {},
                 std::string_view server_reference = {});
// Closes the connection because of `rc`, telling an MQTT 5 client why.
void close_for(session_actor* self, reason_code rc, const char* why);

// persist(), then then(stored) once the record is durable; at once with
// true when there is nothing to store.
template <class Then>
void persist_then(session_actor* self, Then then) {
  auto& st = self->state;
  if (!st.ctx->storage_gate || (!is_persistent(st) && !st.persisted)) return then(true);
  store_then(
      self, [self](durable_store::completion done) { return persist(self, 0, std::move(done)); },
      std::move(then));
}

// ---- session_attach.cpp ----

bool attach(session_actor* self, attach_connection& a);
void on_session_stored(session_actor* self, const session_stored& s);
bool restore(session_actor* self, session_record& r);
void restore_outgoing(session_actor* self, std::vector<stored_delivery>& outgoing, epoch_ms now);

// ---- session_move.cpp ----

caf::result<takeover_answer> on_move_out(session_actor* self, const move_out& m);
caf::result<bool> on_move_in(session_actor* self, move_in& m);
std::uint32_t new_incarnation();

// ---- session_outbound.cpp ----

void flush_outbox(session_actor* self);
void queue_frame(session_actor* self, outbound_frame frame);
void close_sink(session_actor* self);
void send_packet(session_actor* self, const mqtt::packet& p);
bool send_publish(session_actor* self, const delivery& d, std::uint16_t packet_id, bool dup);
void send_tracked(session_actor* self, delivery d);
bool window_has_room(const session_state& st, std::size_t bytes);
void forget_inflight(session_state& st, std::map<std::uint16_t, inflight_message>::iterator it);
void deliver(session_actor* self, delivery d);
void hold_inflight(session_state& st);
// Fills the window: held messages first, then the queue.
void pump(session_actor* self);
// PUBACK, PUBREC or PUBCOMP for a message sent to the client.
void on_delivery_ack(session_actor* self, const mqtt::pub_ack_packet& a);

// ---- session_queue.cpp ----

void forget_delivery(const session_state& st, const delivery& d);
std::vector<std::uint64_t> take_stored_ids(session_state& st);
void announce(session_actor* self);
void drain_queue(session_actor* self);
void enqueue(session_actor* self, delivery d);
void arm_sweep(session_actor* self, epoch_ms expires_at);
void sweep_queue(session_actor* self);

// ---- session_inbound.cpp ----

void credit_connection(session_actor* self);
void on_publish(session_actor* self, mqtt::publish_packet& p);
// PUBREL for a QoS 2 message from the client.
void on_pubrel(session_actor* self, const mqtt::pub_ack_packet& a);

// ---- session_subscriptions.cpp ----

// The shards that hold (or would hold) a subscription to `filter`.
std::vector<caf::actor> shards_for_filter(const broker_context& ctx, std::string_view filter);
// The shards holding this session's subscriptions, each once.
std::vector<caf::actor> subscription_shards(const session_state& st);
void on_subscribe(session_actor* self, mqtt::subscribe_packet& p);
void on_unsubscribe(session_actor* self, const mqtt::unsubscribe_packet& p);
bool drop_unauthorized_subscriptions(session_actor* self, bool subscribed);

// ---- session_access.cpp ----

access_view access_of(const session_state& st);
std::string consent_subject_of(const session_state& st);
bool may_publish(const session_state& st, std::string_view topic);
bool may_subscribe(const access_view& v, std::string_view filter);
void on_access_changed(session_actor* self);
void on_vehicle_changed(session_actor* self, const vehicle_changed& changed);
void arm_token_expiry(session_actor* self);
void on_token_expiry(session_actor* self, const token_expiry& t);
void on_reauthentication(session_actor* self, reauthentication& r);

// ---- session_will.cpp ----

void publish_will(session_actor* self);
void publish_or_arm_will(session_actor* self, std::uint64_t generation);
void on_will_timer(session_actor* self, const will_timer& t);

}  // namespace convoy::session_detail
