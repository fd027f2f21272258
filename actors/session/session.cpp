#include "actors/session/session.hpp"

#include <algorithm>
#include <chrono>

#include <spdlog/spdlog.h>
#include <caf/send.hpp>

#include "actors/core/refusal_log.hpp"
#include "actors/session/session_internal.hpp"
#include "protocol/disconnect.hpp"

namespace convoy {

// CAF allocates an actor behind a 64-byte control block; jemalloc rounds
// that to classes 256 bytes apart at this size. A session over this line
// costs every vehicle of the fleet another 256 bytes.
static_assert(sizeof(session_actor) + 64 <= 1536, "session state grew past its size class");

namespace session_detail {

// ---- phase ----
// Each transition happens here and nowhere else; the sink is set exactly
// while the phase is connecting or online, so "is there a connection" is
// a question of the phase (session_state::connected).

// offline -> connecting (attach), or connecting/online -> connecting when a
// resuming connection takes over: the CONNACK of the new connection is due.
void attach_sink(session_state& st, sink_ptr sink) {
  st.sink = std::move(sink);
  st.phase = session_phase::connecting;
}

// connecting -> online: the CONNACK goes out first in the outbox, and what
// waited behind it follows (finish_attach).
void connack_sent(session_state& st) {
  st.phase = session_phase::online;
}

// connecting/online -> offline: the connection is gone; a persistent
// session waits for its client until its expiry (on_connection_lost).
void detach_sink(session_state& st) {
  st.sink = nullptr;
  st.phase = session_phase::offline;
}

// any -> ending: the session ends and its actor quits (end_session).
void begin_ending(session_state& st) {
  st.sink = nullptr;
  st.phase = session_phase::ending;
}

// ---- refusals, lifecycle, the session's record ----

// Remembers the refusal in the node's refusal log, where operators look up
// why a client did not get (or could not send) a message.
void record_refusal(const session_state& st, counter reason, std::string_view topic, bool inbound) {
  if (!st.ctx->refusal_log) return;
  refusal_record r{now_ms(), std::string{topic}, std::string{name_of(reason)},
                   reason_code_for(reason), inbound};
  caf::anon_send(st.ctx->refusal_log, refusal_event{st.params.client_id, std::move(r)});
}

namespace {

// Counts a drop or refusal for this client and says so in the log the first
// time each reason hits this session, so a flood of drops is one line. The
// line names what was refused: the topic of a message, the filter of a
// subscription.
void count_and_log(session_state& st, counter reason, std::string_view topic, bool inbound,
                   bool subscription) {
  metrics::add(reason);
  record_refusal(st, reason, topic, inbound);
  std::uint8_t bit = 0;
  switch (reason) {
    case counter::dropped_too_large_for_client:
      bit = 1;
      break;
    case counter::dropped_outbound_backlog:
      bit = 2;
      break;
    case counter::dropped_queue_full:
      bit = 4;
      break;
    case counter::dropped_expired:
      bit = 8;
      break;
    case counter::refused_publish_not_authorized:
      bit = 16;
      break;
    case counter::refused_subscribe_not_authorized:
    case counter::removed_subscription_not_authorized:
      bit = 32;
      break;
    case counter::dropped_will_not_authorized:
      bit = 64;
      break;
    case counter::refused_topic_levels:
    case counter::refused_subscription_quota:
      bit = 128;
      break;

    default:
      break;
  }
  if (bit == 0 || (st.logged_drops & bit) != 0) return;
  st.logged_drops |= bit;
  if (subscription)
    spdlog::warn("client '{}': subscription '{}' refused, {} (logged once per session)",
                 st.params.client_id, topic, name_of(reason));
  else if (!topic.empty())
    spdlog::warn("client '{}': message on '{}' dropped, {} (logged once per session)",
                 st.params.client_id, topic, name_of(reason));
  else
    spdlog::warn("client '{}': message dropped, {} (logged once per session)", st.params.client_id,
                 name_of(reason));
}

}  // namespace

void count_drop(session_state& st, counter reason, std::string_view topic, bool inbound) {
  count_and_log(st, reason, topic, inbound, false);
}

void count_refused_subscription(session_state& st, counter reason, std::string_view filter) {
  count_and_log(st, reason, filter, true, true);
}

// Writes the session's record when what a restart must bring back changed:
// its connection parameters and will, its subscriptions, and when the client
// left (disconnected_at, 0 while connected) for the expiry. A session that
// stopped being persistent loses its record. True when a write was
// submitted; `done` then hears when it is durable.
bool persist(session_actor* self, epoch_ms disconnected_at, durable_store::completion done) {
  auto& st = self->state;
  const auto& store = st.ctx->store;
  if (!store) return false;
  if (!is_persistent(st)) {
    bool erased = st.persisted && accepted(store->erase_session(
                                      st.params.client_id, take_stored_ids(st), std::move(done)));
    st.persisted = false;
    return erased;
  }
  if (!store->save_session(
          session_record{st.params, st.subscriptions, disconnected_at, {}, {}, st.incarnation},
          std::move(done))) {
    // The storage is over its bound; the next change writes the record again.
    metrics::add(counter::refused_storage_busy);
    return false;
  }
  st.persisted = true;
  return true;
}

session_summary summary_of(const session_state& st, const session_summary_request& r) {
  session_summary s;
  s.client_id = st.params.client_id;
  if (const auto& who = st.params.principal) {
    s.identity = who->identity;
    s.auth_method = to_string(who->method);
    s.role = who->role;
  } else {
    s.auth_method = "anonymous";
  }
  s.connected = st.connected();
  if (s.connected) {
    s.peer = st.sink->peer();
    s.transport = st.sink->transport();
  }
  s.protocol_version = static_cast<std::uint8_t>(st.params.version);
  s.keep_alive = st.params.keep_alive;
  s.session_expiry = st.params.session_expiry;
  s.subscription_count = static_cast<std::uint32_t>(st.subscriptions.size());
  s.inflight = static_cast<std::uint32_t>(st.inflight.size());
  s.queued = static_cast<std::uint32_t>(st.queue.size());
  s.queued_bytes = st.queued_bytes;
  if (r.with_subscriptions) s.subscriptions = st.subscriptions;
  return s;
}

void end_session(session_actor* self) {
  auto& st = self->state;
  begin_ending(st);
  if (st.will_armed) publish_will(self);
  if (st.persisted && st.ctx->store)
    st.ctx->store->erase_session(st.params.client_id, take_stored_ids(st), ignore_outcome);
  for (const auto& shard : st.ctx->topic_shards)
    caf::anon_send(shard, drop_subscriber{self});
  metrics::sessions_delta(-1);
  self->quit();
}

// Tells the command shard of the session's vehicle that a connection of it
// opened or closed, so that commands wait for it or learn it dropped. The
// vehicle is the certificate's identity (its VIN); clients without a
// certificate are known by their client id.
void tell_presence(session_actor* self, bool online) {
  const auto& st = self->state;
  if (st.ctx->command_shards.empty()) return;
  const auto& p = st.params.principal;
  const std::string& vin =
      p && p->method == auth_method::certificate ? p->identity : st.params.client_id;
  self->send(st.ctx->command_shards.for_key(vin), vehicle_presence{vin, online});
}

// The connection is gone (socket closed, DISCONNECT, protocol violation).
void on_connection_lost(session_actor* self, bool graceful) {
  auto& st = self->state;
  if (st.connected()) tell_presence(self, false);
  st.outbox = {};  // unwritten frames of a lost connection
  detach_sink(st);
  ++st.connection_generation;
  st.withheld_credit = 0;  // owed to the connection that is gone
  st.acks.clear();
  st.inbound_aliases.reset();
  auto generation = ++st.timer_generation;
  if (!graceful && st.params.has_will) {
    publish_or_arm_will(self, generation);
  } else {
    st.params.has_will = false;
  }
  if (st.params.session_expiry == 0) {
    end_session(self);
    return;
  }
  persist(self, now_ms());
  self->delayed_send(self, std::chrono::seconds(st.params.session_expiry),
                     expiry_timer{generation});
}

// Closes the connection for a protocol violation by the client (or for a
// reason of the node's), telling an MQTT 5 client why: the DISCONNECT comes
// from mqtt::disconnect_bytes, as the edge's does. The edge lingers after
// it, so a client still sending reads it instead of a reset.
void say_goodbye(session_actor* self, reason_code rc, std::string_view why,
                 std::string_view server_reference) {
  auto& st = self->state;
  auto goodbye = mqtt::disconnect_bytes(st.params.version, rc, why,
                                        st.params.client_maximum_packet_size, server_reference);
  if (!goodbye) return;  // 3.1.1: the close says it
  outbound_frame frame;
  frame.head = std::move(*goodbye);
  queue_frame(self, std::move(frame));
}

void close_for(session_actor* self, reason_code rc, const char* why) {
  auto& st = self->state;
  if (!st.connected()) return;
  if (rc == reason_code::protocol_error) metrics::add(counter::refused_protocol_error);
  say_goodbye(self, rc, why);
  close_sink(self);
  on_connection_lost(self, false);
}

void on_disconnect(session_actor* self, const mqtt::disconnect_packet& d) {
  auto& st = self->state;
  metrics::add(counter::packets_received);
  if (!st.connected()) return;
  if (auto expiry = d.props.number(property_id::session_expiry_interval)) {
    // A session that was to end with its connection cannot be extended now.
    if (st.params.session_expiry == 0 && *expiry != 0)
      return close_for(self, reason_code::protocol_error,
                       "session expiry set on DISCONNECT after CONNECT asked for none");
    st.params.session_expiry = std::min(*expiry, st.ctx->settings.max_session_expiry);
  }
  close_sink(self);
  // Only a normal disconnection (0x00) deletes the will.
  on_connection_lost(self, d.reason == reason_code::success);
}

}  // namespace session_detail

using namespace session_detail;

session_state::~session_state() {
  metrics::queued_delta(-static_cast<std::int64_t>(queue.size()));
}

caf::behavior session(session_actor* self, context_ptr ctx) {
  self->state.ctx = std::move(ctx);
  self->state.incarnation = new_incarnation();
  metrics::sessions_delta(1);
  return {
      [self](attach_connection& a) -> bool { return attach(self, a); },
      [self](restore_session& r) -> bool { return restore(self, r.record); },
      [self](const move_out& m) { return on_move_out(self, m); },
      [self](move_in& m) { return on_move_in(self, m); },
      [self](const session_stored& s) { on_session_stored(self, s); },
      [self](access_changed) { on_access_changed(self); },
      [self](const delivery_refused& r) {
        // Counted by the shard; remembered here, under this client.
        record_refusal(self->state, counter::refused_queue_full, r.topic, false);
      },
      [self](const vehicle_changed& changed) { on_vehicle_changed(self, changed); },
      [self](reauthentication& r) { on_reauthentication(self, r); },
      [self](const token_expiry& t) { on_token_expiry(self, t); },
      [self](const session_summary_request& r) { return summary_of(self->state, r); },
      [self](const kick_request& r) -> bool {
        auto& st = self->state;
        if (!st.connected()) return false;
        metrics::add(counter::disconnected_by_operator);
        // The reason says who disconnected it ("disconnected by an operator").
        spdlog::info("client '{}': {}", st.params.client_id, r.why);
        close_for(self, reason_code::administrative_action, r.why.c_str());
        return true;
      },
      [self](discard_session) -> bool {
        // A clean start for this client id ends the session; a will of its
        // connection, or one waiting for its delay, fires now (spec 3.1.4).
        // The answer (whether a stored record is being deleted) comes after
        // this session's last write, so the registry starts the new session
        // only once nothing of this one can follow its writes.
        auto& st = self->state;
        if (st.connected()) {
          metrics::add(counter::sessions_taken_over);
          say_goodbye(self, reason_code::session_taken_over);
          close_sink(self);
          tell_presence(self, false);
          if (st.params.has_will) publish_will(self);
        }
        bool erasing = st.persisted && st.ctx->store;
        end_session(self);
        return erasing;
      },
      // Packets from the edge name their connection; those of a connection
      // already replaced (still in the mailbox at a takeover) are dropped, as
      // the client of that connection is gone.
      [self](std::uint64_t from, mqtt::publish_packet& p) {
        if (from != self->state.connection()) return;
        on_publish(self, p);
        credit_connection(self);
      },
      [self](std::uint64_t from, const mqtt::pub_ack_packet& a) {
        if (from != self->state.connection()) return;
        metrics::add(counter::packets_received);
        if (a.type == packet_type::pubrel)
          on_pubrel(self, a);  // for a message from the client
        else
          on_delivery_ack(self, a);  // for a message to the client
        pump(self);
        credit_connection(self);
      },
      [self](std::uint64_t from, mqtt::subscribe_packet& p) {
        if (from != self->state.connection()) return;
        on_subscribe(self, p);
        credit_connection(self);
      },
      [self](std::uint64_t from, const mqtt::unsubscribe_packet& p) {
        if (from != self->state.connection()) return;
        on_unsubscribe(self, p);
        credit_connection(self);
      },
      [self](std::uint64_t from, const mqtt::disconnect_packet& d) {
        if (from != self->state.connection()) return;
        on_disconnect(self, d);
      },
      [self](std::uint64_t from, const mqtt::auth_packet&) {
        if (from != self->state.connection()) return;
        // No authentication method was agreed at CONNECT, so AUTH is a
        // protocol error (spec 4.12).
        close_for(self, reason_code::protocol_error, "AUTH without an authentication method");
      },
      [self](delivery& d) { deliver(self, std::move(d)); },
      [self](const delivery_withheld& w) { forget_delivery(self->state, w.d); },
      [self](delivery_batch& batch) {
        for (auto& d : batch.deliveries)
          deliver(self, std::move(d));
      },
      [self](flush_atom) {
        self->state.flush_scheduled = false;
        flush_outbox(self);
      },
      [self](sweep_atom) { sweep_queue(self); },
      [self](const connection_closed& c) {
        if (c.connection != self->state.connection()) return;  // an old, replaced connection
        on_connection_lost(self, c.graceful);
      },
      [self](const will_timer& t) { on_will_timer(self, t); },
      [self](const expiry_timer& t) {
        auto& st = self->state;
        if (t.generation != st.timer_generation || st.connected()) return;
        metrics::add(counter::sessions_expired);
        end_session(self);
      },
  };
}

}  // namespace convoy
