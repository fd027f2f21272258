#include "actors/session/session_internal.hpp"

#include <algorithm>
#include <random>

#include <caf/send.hpp>

#include "actors/core/metrics.hpp"
#include "actors/session/connect_policy.hpp"
#include "protocol/encoder.hpp"

namespace convoy::session_detail {

namespace {

mqtt::connack_packet make_connack(const session_state& st, bool session_present) {
  mqtt::connack_packet c;
  c.session_present = session_present;
  if (!is_v5(st)) return c;
  const auto& s = st.ctx->settings;
  auto& props = c.props;
  if (st.params.session_expiry_lowered)
    props.add(property_id::session_expiry_interval, st.params.session_expiry);
  if (s.receive_maximum != 65535) props.add(property_id::receive_maximum, s.receive_maximum);
  if (s.maximum_qos < 2) props.add(property_id::maximum_qos, s.maximum_qos);
  if (!s.retain_available) props.add(property_id::retain_available, 0u);
  props.add(property_id::maximum_packet_size, s.max_packet_size);
  if (st.params.assigned_client_id)
    props.add(property_id::assigned_client_identifier, st.params.client_id);
  if (s.topic_alias_maximum > 0) props.add(property_id::topic_alias_maximum, s.topic_alias_maximum);
  if (!s.wildcard_subscriptions) props.add(property_id::wildcard_subscription_available, 0u);
  if (!s.subscription_identifiers) props.add(property_id::subscription_identifier_available, 0u);
  if (!s.shared_subscriptions) props.add(property_id::shared_subscription_available, 0u);
  if (st.params.keep_alive_lowered) props.add(property_id::server_keep_alive, st.params.keep_alive);
  // Enhanced authentication names its method in the CONNACK (3.2.2.3.17).
  if (st.params.enhanced_auth)
    props.add(property_id::authentication_method, std::string{jwt_authentication_method});
  return c;
}

// CONNACK first, then whatever the outbox gathered meanwhile.
void finish_attach(session_actor* self) {
  auto& st = self->state;
  connack_sent(st);
  outbound_frame connack;
  if (mqtt::encode_within(make_connack(st, st.connack_session_present), st.params.version,
                          st.params.client_maximum_packet_size, connack.head)) {
    st.outbox.insert(st.outbox.begin(), std::move(connack));
    metrics::add(counter::packets_sent);
  }
  flush_outbox(self);
  st.sink->bind(self, st.params.keep_alive);
  pump(self);
}

}  // namespace

// The stored queue and window of a session loaded at start-up (or moved
// here from another member). Messages
// sent before the restart wait, held, to be resent under their packet ids
// with DUP (QoS 2: a PUBREL where the PUBREC had arrived); the rest is
// queued in its order. Expired messages go. The queue takes what was stored even beyond
// the current bounds: those messages were acknowledged to their publishers.
void restore_outgoing(session_actor* self, std::vector<stored_delivery>& outgoing, epoch_ms now) {
  auto& st = self->state;
  using stage = inflight_message::stage;
  epoch_ms next_expiry = 0;
  for (auto& o : outgoing) {
    delivery& d = o.d;
    // A released QoS 2 message has no body left, only its PUBREL to resend.
    if (d.msg.ptr && expired(*d.msg, now)) {
      count_drop(st, counter::dropped_expired, d.msg->topic);
      forget_delivery(st, d);
      continue;
    }
    bool sent = o.stage != outgoing_stage::queued && o.packet_id != 0 &&
                st.inflight.count(o.packet_id) == 0;
    if (sent) {
      bool released = o.stage == outgoing_stage::pubrel_sent;
      auto at = released                           ? stage::awaiting_pubcomp
                : d.qos == mqtt::qos::exactly_once ? stage::awaiting_pubrec
                                                   : stage::awaiting_puback;
      if (released) d.msg = {};
      st.inflight.emplace(o.packet_id,
                          inflight_message{std::move(d), at, st.next_sequence++, true});
      ++st.held_count;
      st.next_packet_id = static_cast<std::uint16_t>(o.packet_id + 1);
      continue;
    }
    if (d.msg->expires_at != 0)
      next_expiry = next_expiry == 0 ? d.msg->expires_at : std::min(next_expiry, d.msg->expires_at);
    st.queued_bytes += static_cast<std::uint32_t>(message_bytes(d));
    if (d.qos == mqtt::qos::at_most_once) ++st.queued_qos0;
    st.queue.push_back(std::move(d));
    metrics::queued_delta(1);
  }
  if (next_expiry != 0) arm_sweep(self, next_expiry);
}

bool attach(session_actor* self, attach_connection& a) {
  auto& st = self->state;
  if (!a.sink) return true;  // arrived from another node without its socket: nothing to attach
  if (st.connected()) {
    // Session takeover: the old connection learns why it is closed. It ends
    // without a DISCONNECT from its client, so its will fires as for any lost
    // connection (spec 3.1.4), except that the new connection arrived before
    // any will delay could pass (3.1.3.2.2).
    metrics::add(counter::sessions_taken_over);
    say_goodbye(self, reason_code::session_taken_over);
    close_sink(self);
    if (st.params.has_will && st.params.will.delay_interval == 0) publish_will(self);
  }
  if (st.connected()) tell_presence(self, false);  // the old connection, taken over
  st.connack_session_present = st.resumed_before && !a.params.clean_start;
  st.resumed_before = true;
  ++st.timer_generation;  // cancels a pending will delay and session expiry
  st.will_armed = false;
  st.params = std::move(a.params);
  st.outbox = {};
  attach_sink(st, std::move(a.sink));
  ++st.connection_generation;
  st.acks.clear();
  st.inbound_aliases.reset();
  tell_presence(self, true);
  hold_inflight(st);
  // A resumed session keeps only what its (current) rules allow; the record
  // written below reflects it.
  drop_unauthorized_subscriptions(self, true);
  arm_token_expiry(self);
  // A CONNACK promises the client its session: it goes once the session's
  // record (or its deletion for a clean start) is durable, so that a crash
  // right after cannot take back what the client was told. It waits on the
  // write's own completion, not on the storage gate: a gate barrier says the
  // earlier writes were committed or failed, not which, and a CONNACK for a
  // record that did not fit must become a refusal.
  auto me = caf::actor_cast<caf::actor>(self);
  auto generation = st.connection_generation;
  auto done = [me, generation](bool stored) {
    caf::anon_send(me, session_stored{generation, stored});
  };
  bool waits = persist(self, 0, done);
  if (!waits && a.replaced_stored && st.ctx->store) waits = st.ctx->store->sync(done);
  announce(self);
  if (waits) return true;  // connecting until the storage answers
  finish_attach(self);
  return true;
}

// The storage answered for the connection that attached: CONNACK, or, when
// the session could not be stored, a refusal ("server unavailable").
void on_session_stored(session_actor* self, const session_stored& s) {
  auto& st = self->state;
  if (st.phase != session_phase::connecting || s.generation != st.connection_generation) return;
  if (s.stored) return finish_attach(self);
  // The refusal goes instead of the CONNACK, without what waited behind it.
  st.outbox = {};
  mqtt::connack_packet refusal{false, reason_code::server_unavailable, {}};
  if (is_v5(st)) refusal.props.add(property_id::reason_string, "session could not be stored");
  std::vector<outbound_frame> frames(1);
  if (mqtt::encode_within(refusal, st.params.version, st.params.client_maximum_packet_size,
                          frames.front().head)) {
    st.sink->write(std::move(frames));
    metrics::add(counter::packets_sent);
  } else {
    count_drop(st, counter::dropped_too_large_for_client);
  }
  st.sink->close();
  on_connection_lost(self, true);
}

// A random, non-zero incarnation for a new session.
std::uint32_t new_incarnation() {
  thread_local std::mt19937 random{std::random_device{}()};
  std::uint32_t n = 0;
  while (n == 0)
    n = static_cast<std::uint32_t>(random());
  return n;
}

// A session loaded from storage at start-up: offline, with its subscriptions
// and the time left of its expiry. A client that was connected when the node
// stopped lost its connection then: its will fires as for any lost one.
bool restore(session_actor* self, session_record& r) {
  auto& st = self->state;
  st.params = std::move(r.params);
  st.subscriptions = std::move(r.subscriptions);
  std::sort(st.subscriptions.begin(), st.subscriptions.end(),
            [](const auto& a, const auto& b) { return a.filter < b.filter; });
  st.resumed_before = true;
  st.persisted = true;
  bool trimmed = drop_unauthorized_subscriptions(self, false);
  if (r.incarnation != 0) st.incarnation = r.incarnation;
  // Received before the restart and already routed: a resend only gets its
  // PUBREC again.
  for (auto id : r.qos2_received)
    st.qos2_incoming.push_back({id, true});
  st.announced_persistent = stores_messages(st);
  const std::string consent_subject = consent_subject_of(st);
  for (const auto& sub : st.subscriptions)
    for (const auto& shard : shards_for_filter(*st.ctx, sub.filter))
      caf::anon_send(shard, subscribe_request{self, st.params.client_id, sub.filter, sub.options,
                                              sub.subscription_id, false, st.announced_persistent,
                                              st.incarnation, consent_subject});
  epoch_ms now = now_ms();
  restore_outgoing(self, r.outgoing, now);
  announce(self);
  bool was_connected = r.disconnected_at == 0;
  epoch_ms gone_for = was_connected ? 0 : std::max<epoch_ms>(now - r.disconnected_at, 0);
  epoch_ms left = std::int64_t{st.params.session_expiry} * 1000 - gone_for;
  if (left <= 0) {
    metrics::add(counter::sessions_expired);
    end_session(self);
    return true;
  }
  auto generation = ++st.timer_generation;
  if (was_connected && st.params.has_will) {
    publish_or_arm_will(self, generation);
  }
  if (was_connected || trimmed) persist(self, was_connected ? now : r.disconnected_at);
  self->delayed_send(self, std::chrono::milliseconds(left), expiry_timer{generation});
  return true;
}

}  // namespace convoy::session_detail
