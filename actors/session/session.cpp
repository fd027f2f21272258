#include "actors/session/session.hpp"

#include <algorithm>
#include <chrono>
#include <random>

#include <spdlog/spdlog.h>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include "actors/core/inspection.hpp"
#include "actors/core/metrics.hpp"
#include "actors/core/refusal_log.hpp"
#include "actors/core/storage_gate.hpp"
#include "actors/rules/archive_writer.hpp"
#include "actors/rules/rule_worker.hpp"
#include "actors/rules/telemetry_rules.hpp"
#include "actors/rules/webhook.hpp"
#include "actors/session/connect_policy.hpp"
#include "actors/vehicle/command.hpp"
#include "actors/vehicle/consent.hpp"
#include "actors/vehicle/registry_control.hpp"
#include "actors/vehicle/vehicle_state.hpp"
#include "protocol/encoder.hpp"
#include "protocol/topic.hpp"

namespace convoy {

using mqtt::packet_type;
using mqtt::property_id;
using mqtt::reason_code;

// CAF allocates an actor behind a 64-byte control block; jemalloc rounds
// that to classes 256 bytes apart at this size. A session over this line
// costs every vehicle of the fleet another 256 bytes.
static_assert(sizeof(session_actor) + 64 <= 1536, "session state grew past its size class");

namespace {

// Requests to topic shards carry no timeout. CAF keeps every request timeout
// in one clock shared by all actors, a tree insert and erase under a mutex
// per QoS 1 publish (8 % of the broker's CPU in fan-in profiles). A local
// shard always answers, and a shard that is gone answers with an error.
// TODO(cluster): a shard on a node that dies answers nothing; the node-down
// handling must fail the routes waiting for it.
constexpr auto shard_timeout = caf::infinite;

bool is_v5(const session_state& st) {
  return st.params.version == mqtt::protocol_version::v5;
}

counter delivered_counter(mqtt::qos q) {
  switch (q) {
    case mqtt::qos::at_most_once:
      return counter::messages_delivered_qos0;
    case mqtt::qos::at_least_once:
      return counter::messages_delivered_qos1;
    default:
      return counter::messages_delivered_qos2;
  }
}

counter received_counter(mqtt::qos q) {
  switch (q) {
    case mqtt::qos::at_most_once:
      return counter::messages_received_qos0;
    case mqtt::qos::at_least_once:
      return counter::messages_received_qos1;
    default:
      return counter::messages_received_qos2;
  }
}

bool expired(const app_message& m, epoch_ms now) {
  return m.expires_at != 0 && m.expires_at <= now;
}

std::size_t message_bytes(const delivery& d) {
  return d.msg->topic.size() + (d.msg->payload ? d.msg->payload->size() : 0);
}

// Shards that can hold a subscription to filter: one, or all for filters
// with a wildcard in their shard key.
std::vector<caf::actor> shards_for_filter(const broker_context& ctx, std::string_view filter) {
  std::string_view plain = filter;
  if (auto shared = mqtt::parse_shared_filter(filter)) plain = shared->filter;
  if (auto one = ctx.topic_placement.shard_for_filter(plain)) return {ctx.topic_shards.at(*one)};
  return ctx.topic_shards.all();
}

// The shards holding this session's subscriptions, each once.
std::vector<caf::actor> subscription_shards(const session_state& st) {
  std::vector<caf::actor> out;
  for (const auto& sub : st.subscriptions)
    for (auto& shard : shards_for_filter(*st.ctx, sub.filter))
      if (std::find(out.begin(), out.end(), shard) == out.end()) out.push_back(std::move(shard));
  return out;
}

void ignore_outcome(bool) {}

// A write the storage refused (over its bound of pending writes) is counted.
bool accepted(bool submitted) {
  if (!submitted) metrics::add(counter::refused_storage_busy);
  return submitted;
}

// MQTT calls a session persistent when it outlives its connection.
bool is_persistent(const session_state& st) {
  return st.params.session_expiry > 0;
}

// A persistent session on a node with storage keeps its QoS 1/2 messages
// on disk: the shards store them in its queue before the publisher's PUBACK.
bool stores_messages(const session_state& st) {
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

// A message this session will not deliver leaves its queue in storage too.
void forget_delivery(const session_state& st, const delivery& d) {
  if (d.stored_id != 0 && st.ctx->store)
    st.ctx->store->release(st.params.client_id, d.stored_id, ignore_outcome);
}

// The storage ids of every message the session holds, which stop being
// stored with its queue (the session ends or stops being persistent).
std::vector<std::uint64_t> take_stored_ids(session_state& st) {
  std::vector<std::uint64_t> ids;
  for (auto& [id, m] : st.inflight)
    if (m.d.stored_id != 0) ids.push_back(std::exchange(m.d.stored_id, 0));
  st.queue.for_each_mut([&](delivery& d) {
    if (d.stored_id != 0) ids.push_back(std::exchange(d.stored_id, 0));
  });
  return ids;
}

// Whether QoS 1/2 messages for this session must be refused: its queue is
// full and holds no QoS 0 message to drop instead.
bool queue_refuses(const session_state& st) {
  const auto& s = st.ctx->settings;
  return !st.queue.empty() && st.queued_qos0 == 0 &&
         (st.queue.size() >= s.max_queued_messages || st.queued_bytes >= s.max_queued_bytes);
}

// Tells the shards of the subscriptions what changed in how they treat this
// session's messages (stored or not, refused or not). Changes are rare.
void announce(session_actor* self) {
  auto& st = self->state;
  bool persistent = stores_messages(st);
  bool refusing = queue_refuses(st);
  if (persistent == st.announced_persistent && refusing == st.announced_refusing) return;
  st.announced_persistent = persistent;
  st.announced_refusing = refusing;
  for (const auto& shard : subscription_shards(st))
    caf::anon_send(shard, subscriber_state{self, persistent, refusing, st.incarnation});
}

// Remembers the refusal in the node's refusal log, where operators look up
// why a client did not get (or could not send) a message.
void record_refusal(const session_state& st, counter reason, std::string_view topic, bool inbound) {
  if (!st.ctx->refusal_log) return;
  refusal_record r{now_ms(), std::string{topic}, std::string{name_of(reason)},
                   reason_code_for(reason), inbound};
  caf::anon_send(st.ctx->refusal_log, refusal_event{st.params.client_id, std::move(r)});
}

// Counts a message dropped for this client and says so in the log the
// first time each reason hits this session, so a flood of drops is one line.
void count_drop(session_state& st, counter reason, std::string_view topic = {},
                bool inbound = false) {
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
  spdlog::warn("client '{}': message dropped, {} (logged once per session)", st.params.client_id,
               name_of(reason));
}

// Levels of a topic or filter; "$share/group/" counts as part of it.
std::uint32_t topic_levels(std::string_view topic) {
  return static_cast<std::uint32_t>(std::count(topic.begin(), topic.end(), '/')) + 1;
}

// ---- authorization ----

// The rules of this client's role under the policy in force. The role is
// looked up again each time, so a reloaded policy applies at once.
struct access_view {
  policy_ptr policy;          // null: no authorization, everything is allowed
  const access_role* role{};  // null with a policy: the client may do nothing
  access_template::subject who;
};

access_view access_of(const session_state& st) {
  access_view v;
  v.policy = st.ctx->access->current();
  if (!v.policy) return v;
  const client_principal* p = st.params.principal ? st.params.principal.ptr.get() : nullptr;
  std::string role = v.policy->role_for(st.params.principal);
  v.role = role.empty() ? nullptr : v.policy->find(role);
  v.who = access_policy::subject_of(p, st.params.client_id);
  return v;
}

// A service's subscriptions get telemetry only with the vehicles' consent:
// its identity is the subject consent is checked for. Empty for everyone
// else (vehicles, operators, clients of no role).
std::string consent_subject_of(const session_state& st) {
  const auto& roles = st.ctx->consent_service_roles;
  if (roles.empty() || !st.params.principal) return {};
  auto policy = st.ctx->access->current();
  if (!policy) return {};
  std::string role = policy->role_for(st.params.principal);
  if (std::find(roles.begin(), roles.end(), role) == roles.end()) return {};
  return st.params.principal->identity;
}

bool may_publish(const session_state& st, std::string_view topic) {
  auto v = access_of(st);
  if (!v.policy) return true;
  return v.role && access_policy::may_publish(*v.role, topic, v.who);
}

bool may_subscribe(const access_view& v, std::string_view filter) {
  if (!v.policy) return true;
  return v.role && access_policy::may_subscribe(*v.role, filter, v.who);
}

bool drop_unauthorized_subscriptions(session_actor* self, bool subscribed);
void arm_token_expiry(session_actor* self);

// ---- writing to the client ----

// Hands the frames written so far to the connection in one write.
void flush_outbox(session_actor* self) {
  auto& st = self->state;
  if (st.outbox.empty() || st.connack_pending) return;
  std::vector<outbound_frame> frames;
  frames.swap(st.outbox);  // the outbox holds no memory between runs
  if (!st.sink) return;
  std::uint32_t droppable = 0;
  for (const auto& f : frames)
    droppable += f.droppable ? 1 : 0;
  std::size_t count = frames.size();
  auto result = st.sink->write(std::move(frames));
  if (result.gone) return;  // the session hears of it from the connection
  metrics::add(counter::packets_sent, count - result.refused);
  metrics::add(counter::messages_delivered_qos0, droppable - result.refused);
  if (result.refused > 0) {
    metrics::add(counter::dropped_outbound_backlog, result.refused - 1);
    count_drop(st, counter::dropped_outbound_backlog);
  }
}

// Frames wait in the outbox until the session has handled the messages
// already in its mailbox: the flush request queues behind them. Under load
// one write (often one system call) then carries many packets; when idle,
// the flush follows at once. A deep mailbox must not hold frames back for
// long, or the client's acknowledgements, and with them the window, stall:
// a few frames are written at once.
constexpr std::size_t outbox_frames = 16;

void queue_frame(session_actor* self, outbound_frame frame) {
  auto& st = self->state;
  st.outbox.push_back(std::move(frame));
  if (st.outbox.size() >= outbox_frames) return flush_outbox(self);
  if (st.flush_scheduled) return;
  st.flush_scheduled = true;
  self->send(self, flush_atom::value);
}

// Writes what is queued, then closes the connection.
void close_sink(session_actor* self) {
  flush_outbox(self);
  self->state.sink->close();
}

void send_packet(session_actor* self, const mqtt::packet& p) {
  auto& st = self->state;
  if (!st.sink) return;
  outbound_frame frame;
  if (!mqtt::encode_within(p, st.params.version, st.params.client_maximum_packet_size,
                           frame.head)) {
    count_drop(st, counter::dropped_too_large_for_client);
    return;
  }
  queue_frame(self, std::move(frame));
}

// While a CONNACK waits for storage the outbox holds what follows it; QoS 0
// beyond this many frames is dropped (QoS 1/2 are bounded by the window).
constexpr std::size_t connack_wait_frames = 1024;

// QoS 0 deliveries are counted once the connection took them (flush_outbox).
bool write_publish(session_actor* self, outbound_frame frame, mqtt::qos q) {
  auto& st = self->state;
  if (frame.size() > st.params.client_maximum_packet_size) {
    count_drop(st, counter::dropped_too_large_for_client);
    return false;
  }
  frame.droppable = q == mqtt::qos::at_most_once;
  if (frame.droppable && st.connack_pending && st.outbox.size() >= connack_wait_frames) {
    count_drop(st, counter::dropped_outbound_backlog);
    return false;
  }
  if (!frame.droppable) {
    metrics::add(counter::packets_sent);
    metrics::add(delivered_counter(q));
  }
  queue_frame(self, std::move(frame));
  return true;
}

// Encodes one delivery as a PUBLISH sharing the message's payload bytes.
// False if the client's Maximum Packet Size forbids it or the connection
// refused a droppable (QoS 0) frame.
// A first delivery of a live message (not a retained one replayed on
// subscribe, nor a resend) feeds the latency histogram.
void observe_delivery(const delivery& d, bool dup) {
  const app_message& m = *d.msg;
  metrics::message_bytes_delivered(static_cast<std::uint8_t>(d.qos),
                                   m.payload ? m.payload->size() : 0);
  if (dup || m.published_us == 0 || (d.retain && m.retain)) return;
  std::int64_t waited = now_us() - m.published_us;
  metrics::publish_to_deliver.observe(waited > 0 ? static_cast<std::uint64_t>(waited) : 0);
}

bool send_publish(session_actor* self, const delivery& d, std::uint16_t packet_id, bool dup) {
  auto& st = self->state;
  const app_message& m = *d.msg;
  observe_delivery(d, dup);
  outbound_frame frame;
  frame.body = m.payload;
  bool same_for_everyone =
      d.qos == mqtt::qos::at_most_once && d.subscription_ids.empty() && m.expires_at == 0;
  if (same_for_everyone) {
    frame.shared_head = m.shared_header(st.params.version, d.retain);
    return write_publish(self, std::move(frame), d.qos);
  }
  mqtt::publish_packet header;
  header.topic = m.topic;
  header.qos = d.qos;
  header.retain = d.retain;
  header.dup = dup;
  header.packet_id = packet_id;
  if (is_v5(st)) {
    header.props = m.props;
    if (m.expires_at != 0) {
      epoch_ms left = std::max<epoch_ms>(m.expires_at - now_ms(), 0);
      header.props.add(property_id::message_expiry_interval,
                       static_cast<std::uint32_t>((left + 999) / 1000));
    }
    for (auto id : d.subscription_ids)
      header.props.add(property_id::subscription_identifier, id);
  }
  std::size_t payload_size = m.payload ? m.payload->size() : 0;
  mqtt::encode_publish_header(header, payload_size, st.params.version, frame.head);
  return write_publish(self, std::move(frame), d.qos);
}

std::uint16_t allocate_packet_id(session_state& st) {
  // The window is at most 65535 wide, so a free id always exists when called.
  while (st.next_packet_id == 0 || st.inflight.count(st.next_packet_id) > 0)
    ++st.next_packet_id;
  return st.next_packet_id++;
}

void forget_inflight(session_state& st, std::map<std::uint16_t, inflight_message>::iterator it);

// Sends a QoS 1/2 delivery under a fresh packet id and tracks it until acked.
void send_tracked(session_actor* self, delivery d) {
  auto& st = self->state;
  std::uint16_t id = allocate_packet_id(st);
  auto stage = d.qos == mqtt::qos::at_least_once ? inflight_message::stage::awaiting_puback
                                                 : inflight_message::stage::awaiting_pubrec;
  bool staged = d.qos == mqtt::qos::exactly_once && d.stored_id != 0 && st.ctx->storage_gate;
  if (!staged) {
    if (!send_publish(self, d, id, false)) {  // too large: as if acknowledged
      forget_delivery(st, d);
      return;
    }
    // QoS 1 from storage: the packet id is stored too, so that a restart
    // resends under it (MQTT 4.4). Nothing waits for it: should the node die
    // first, the message goes again under a new id, which QoS 1 allows.
    if (d.stored_id != 0 && st.ctx->store)
      accepted(st.ctx->store->save_outgoing_stage(st.params.client_id, st.incarnation, d, id,
                                                  outgoing_stage::sent, ignore_outcome));
    st.inflight_bytes += message_bytes(d);
    st.inflight.emplace(id, inflight_message{std::move(d), stage, st.next_sequence++});
    return;
  }
  // QoS 2 from storage: its packet id is stored before the PUBLISH leaves,
  // so that after a restart it is resent under the same id and the client
  // recognises it instead of taking it for a new message. (Should the write
  // fail, it goes anyway: a possible duplicate rather than a stalled queue.)
  auto sequence = st.next_sequence++;
  st.inflight_bytes += message_bytes(d);
  const auto& m =
      st.inflight.emplace(id, inflight_message{std::move(d), stage, sequence}).first->second;
  store_then(
      self,
      [&](durable_store::completion done) {
        return accepted(st.ctx->store->save_outgoing_stage(
            st.params.client_id, st.incarnation, m.d, id, outgoing_stage::sent, std::move(done)));
      },
      [self, id, sequence](bool) {
        auto& st = self->state;
        auto it = st.inflight.find(id);
        // Acknowledged, or held for a new connection, which resends it.
        if (it == st.inflight.end() || it->second.sequence != sequence || it->second.held ||
            it->second.at != inflight_message::stage::awaiting_pubrec)
          return;
        if (!send_publish(self, it->second.d, id, false)) {
          forget_delivery(st, it->second.d);
          forget_inflight(st, it);
        }
      });
}

// Whether a QoS 1/2 message of `bytes` may go out now. The window is bounded
// in messages (the client's Receive Maximum and ours) and in bytes, so a
// client that stops reading holds at most one window of unacknowledged
// messages; the rest waits in the bounded queue. One message always fits
// into an empty window, however large.
bool window_has_room(const session_state& st, std::size_t bytes) {
  const auto& s = st.ctx->settings;
  std::size_t messages =
      std::min<std::size_t>(st.params.client_receive_maximum, s.max_inflight_messages);
  if (st.inflight.size() - st.held_count >= messages) return false;
  return st.inflight_bytes == 0 || st.inflight_bytes + bytes <= s.max_outbound_bytes;
}

std::size_t wire_bytes(const inflight_message& m) {
  return m.d.msg.ptr ? message_bytes(m.d) : 0;
}

void forget_inflight(session_state& st, std::map<std::uint16_t, inflight_message>::iterator it) {
  if (it->second.held)
    --st.held_count;
  else
    st.inflight_bytes -= wire_bytes(it->second);
  st.inflight.erase(it);
}

// Moves queued messages into the in-flight window while there is room.
void drain_queue(session_actor* self) {
  auto& st = self->state;
  epoch_ms now = now_ms();
  bool moved = false;
  while (st.sink && st.held_count == 0 && !st.queue.empty() &&
         window_has_room(st, message_bytes(st.queue.front()))) {
    delivery d = st.queue.pop_front();
    metrics::queued_delta(-1);
    moved = true;
    st.queued_bytes -= message_bytes(d);
    if (d.qos == mqtt::qos::at_most_once) --st.queued_qos0;
    if (expired(*d.msg, now)) {
      count_drop(st, counter::dropped_expired, d.msg->topic);
      forget_delivery(st, d);
      continue;
    }
    if (d.qos == mqtt::qos::at_most_once)
      send_publish(self, d, 0, false);
    else
      send_tracked(self, std::move(d));
  }
  if (moved) announce(self);
}

// Expired messages wait in a queue until a sweep drops them: one timer per
// session with a queue of expiring messages, at most a minute apart, so an
// offline vehicle does not hold expired messages until it returns.
constexpr epoch_ms max_sweep_delay_ms = 60'000;

void arm_sweep(session_actor* self, epoch_ms expires_at) {
  auto& st = self->state;
  if (st.sweep_armed) return;
  st.sweep_armed = true;
  epoch_ms delay = std::clamp<epoch_ms>(expires_at - now_ms(), 0, max_sweep_delay_ms) + 1;
  self->delayed_send(self, std::chrono::milliseconds(delay), sweep_atom::value);
}

void sweep_queue(session_actor* self) {
  auto& st = self->state;
  st.sweep_armed = false;
  epoch_ms now = now_ms();
  epoch_ms next = 0;
  st.queue.erase_if([&](const delivery& d) {
    epoch_ms at = d.msg->expires_at;
    if (at == 0) return false;
    if (at > now) {
      next = next == 0 ? at : std::min(next, at);
      return false;
    }
    st.queued_bytes -= message_bytes(d);
    if (d.qos == mqtt::qos::at_most_once) --st.queued_qos0;
    count_drop(st, counter::dropped_expired, d.msg->topic);
    forget_delivery(st, d);
    metrics::queued_delta(-1);
    return true;
  });
  if (next != 0) arm_sweep(self, next);
  announce(self);
}

// Queues a message for later. A full queue (mqtt.max_queued_messages or
// mqtt.max_queued_bytes) first drops its oldest QoS 0 messages; with none
// left the new message is dropped, and QoS 1/2 messages are refused by the
// shards from then on (Quota exceeded, see announce) until there is room.
void enqueue(session_actor* self, delivery d) {
  auto& st = self->state;
  const auto& s = st.ctx->settings;
  std::size_t bytes = message_bytes(d);
  auto full = [&] {
    return st.queue.size() >= s.max_queued_messages || st.queued_bytes + bytes > s.max_queued_bytes;
  };
  while (full() && st.queued_qos0 > 0) {
    st.queue.erase_first_if([&](const delivery& old) {
      if (old.qos != mqtt::qos::at_most_once) return false;
      st.queued_bytes -= message_bytes(old);
      metrics::queued_delta(-1);
      return true;
    });
    --st.queued_qos0;
    count_drop(st, counter::dropped_queue_full);
  }
  if (full()) {
    count_drop(st, counter::dropped_queue_full, d.msg->topic);
    forget_delivery(st, d);
    announce(self);
    return;
  }
  st.queued_bytes += bytes;
  if (d.qos == mqtt::qos::at_most_once) ++st.queued_qos0;
  if (d.msg->expires_at != 0) arm_sweep(self, d.msg->expires_at);
  st.queue.push_back(std::move(d));
  metrics::queued_delta(1);
  announce(self);
}

void deliver(session_actor* self, delivery d) {
  auto& st = self->state;
  if (d.stored_id != 0 && !stores_messages(st)) {
    // Stored by a shard that did not yet know the session stopped being
    // persistent.
    forget_delivery(st, d);
    d.stored_id = 0;
  }
  if (expired(*d.msg, now_ms())) {
    count_drop(st, counter::dropped_expired, d.msg->topic);
    forget_delivery(st, d);
    return;
  }
  if (d.qos == mqtt::qos::at_most_once) {
    if (st.sink) {
      send_publish(self, d, 0, false);
    } else if (st.ctx->settings.queue_qos0_messages && is_persistent(st)) {
      enqueue(self, std::move(d));
    }
    // Otherwise QoS 0 is not kept for offline clients (mosquitto's default).
    return;
  }
  if (st.sink && st.held_count == 0 && st.queue.empty() && window_has_room(st, message_bytes(d)))
    send_tracked(self, std::move(d));
  else
    enqueue(self, std::move(d));
}

// After a reconnect: resend what the client has not acknowledged, in the
// order it was first sent (spec 4.4), PUBLISH with DUP and PUBREL as is.
// The new connection may have a smaller window than the old one, so every
// unacknowledged message is held back first and resent as the window allows.
void resend_held(session_actor* self) {
  auto& st = self->state;
  if (st.held_count == 0 || !st.sink) return;
  std::vector<std::pair<std::uint64_t, std::uint16_t>> order;
  for (const auto& [id, m] : st.inflight)
    if (m.held) order.emplace_back(m.sequence, id);
  std::sort(order.begin(), order.end());
  for (auto [seq, id] : order) {
    auto& m = st.inflight.at(id);
    if (!window_has_room(st, wire_bytes(m))) break;
    m.held = false;
    --st.held_count;
    st.inflight_bytes += wire_bytes(m);
    if (m.at == inflight_message::stage::awaiting_pubcomp)
      send_packet(self, mqtt::pub_ack_packet{packet_type::pubrel, id, reason_code::success, {}});
    else
      send_publish(self, m.d, id, true);
  }
}

void hold_inflight(session_state& st) {
  for (auto& [id, m] : st.inflight)
    m.held = true;
  st.held_count = st.inflight.size();
  st.inflight_bytes = 0;
}

// Fills the window: held messages first, then the queue.
void pump(session_actor* self) {
  resend_held(self);
  drain_queue(self);
}

// ---- session lifecycle ----

void publish_will(session_actor* self) {
  auto& st = self->state;
  if (!st.params.has_will) return;
  const will_spec& w = st.params.will;
  // Checked when the will fires, not when it was set: rules (or the
  // client's standing) may have changed in between.
  if (!may_publish(st, w.topic)) {
    count_drop(st, counter::dropped_will_not_authorized, w.topic, true);
    st.params.has_will = false;
    st.will_armed = false;
    return;
  }
  auto m = std::make_shared<app_message>();
  m->topic = w.topic;
  m->payload = std::make_shared<const std::string>(w.payload);
  m->qos = w.qos;
  m->retain = w.retain;
  if (w.has_expiry) m->expires_at = now_ms() + std::int64_t{w.expiry_interval} * 1000;
  m->props = w.props;
  m->publisher = st.params.client_id;
  caf::anon_send(st.ctx->shard_for_topic(w.topic), route_request{message_ref{std::move(m)}});
  metrics::add(counter::wills_published);
  st.params.has_will = false;
  st.will_armed = false;
}

// ---- storage ----

// Writes the session's record when what a restart must bring back changed:
// its connection parameters and will, its subscriptions, and when the client
// left (disconnected_at, 0 while connected) for the expiry. A session that
// stopped being persistent loses its record. True when a write was
// submitted; `done` then hears when it is durable.
bool persist(session_actor* self, epoch_ms disconnected_at = 0,
             durable_store::completion done = ignore_outcome) {
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
  s.connected = st.sink != nullptr;
  if (st.sink) {
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
  if (st.will_armed) publish_will(self);
  if (st.persisted && st.ctx->store)
    st.ctx->store->erase_session(st.params.client_id, take_stored_ids(st), ignore_outcome);
  for (const auto& shard : st.ctx->topic_shards)
    caf::anon_send(shard, drop_subscriber{self});
  metrics::sessions_delta(-1);
  self->quit();
}

// The connection is lost: the will goes now, or after its delay (capped by
// the session expiry) unless the client is back by then.
void publish_or_arm_will(session_actor* self, std::uint64_t generation) {
  auto& st = self->state;
  if (st.params.will.delay_interval == 0) return publish_will(self);
  st.will_armed = true;
  auto delay = std::min(st.params.will.delay_interval, st.params.session_expiry);
  self->delayed_send(self, std::chrono::seconds(delay), will_timer{generation});
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
  if (st.sink) tell_presence(self, false);
  st.outbox = {};  // unwritten frames of a lost connection
  st.connack_pending = false;
  st.sink = nullptr;
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

// Closes the connection for a protocol violation by the client, telling an
// MQTT 5 client why.
void close_for(session_actor* self, reason_code rc, const char* why) {
  auto& st = self->state;
  if (!st.sink) return;
  if (rc == reason_code::protocol_error) metrics::add(counter::refused_protocol_error);
  if (is_v5(st)) {
    mqtt::disconnect_packet goodbye{rc, {}};
    goodbye.props.add(property_id::reason_string, why);
    send_packet(self, goodbye);
  }
  close_sink(self);
  on_connection_lost(self, false);
}

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
  st.connack_pending = false;
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

bool attach(session_actor* self, attach_connection& a) {
  auto& st = self->state;
  if (!a.sink) return true;  // arrived from another node without its socket: nothing to attach
  if (st.sink) {
    // Session takeover: the old connection learns why it is closed. It ends
    // without a DISCONNECT from its client, so its will fires as for any lost
    // connection (spec 3.1.4), except that the new connection arrived before
    // any will delay could pass (3.1.3.2.2).
    metrics::add(counter::sessions_taken_over);
    if (is_v5(st)) send_packet(self, mqtt::disconnect_packet{reason_code::session_taken_over, {}});
    close_sink(self);
    if (st.params.has_will && st.params.will.delay_interval == 0) publish_will(self);
  }
  if (st.sink) tell_presence(self, false);  // the old connection, taken over
  st.connack_session_present = st.resumed_before && !a.params.clean_start;
  st.resumed_before = true;
  ++st.timer_generation;  // cancels a pending will delay and session expiry
  st.will_armed = false;
  st.params = std::move(a.params);
  st.sink = std::move(a.sink);
  st.outbox = {};
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
  if (waits) {
    st.connack_pending = true;
    return true;
  }
  finish_attach(self);
  return true;
}

// The storage answered for the connection that attached: CONNACK, or, when
// the session could not be stored, a refusal ("server unavailable").
void on_session_stored(session_actor* self, const session_stored& s) {
  auto& st = self->state;
  if (!st.connack_pending || s.generation != st.connection_generation) return;
  if (s.stored) return finish_attach(self);
  st.connack_pending = false;
  st.outbox = {};
  mqtt::connack_packet refusal{false, reason_code::server_unavailable, {}};
  if (is_v5(st)) refusal.props.add(property_id::reason_string, "session could not be stored");
  send_packet(self, refusal);
  close_sink(self);
  on_connection_lost(self, true);
}

// ---- packets from the client ----

// Lets the connection read on: one more of its packets is handled. Held back
// while a QoS 0 barrier is pending (see route_qos0).
void credit_connection(session_actor* self) {
  auto& st = self->state;
  if (!st.sink) return;
  if (st.barrier_pending) {
    ++st.withheld_credit;
    return;
  }
  st.sink->consumed(1);
}

void release_barrier(session_actor* self) {
  auto& st = self->state;
  st.barrier_pending = false;
  if (st.sink && st.withheld_credit > 0) st.sink->consumed(st.withheld_credit);
  st.withheld_credit = 0;
}

// Where `filter` is, or would be inserted, in the sorted subscriptions.
auto find_subscription(session_state& st, std::string_view filter) {
  return std::lower_bound(
      st.subscriptions.begin(), st.subscriptions.end(), filter,
      [](const subscription_record& e, std::string_view f) { return e.filter < f; });
}

qos2_receipt* find_qos2(session_state& st, std::uint16_t packet_id) {
  for (auto& r : st.qos2_incoming)
    if (r.packet_id == packet_id) return &r;
  return nullptr;
}

bool erase_qos2(session_state& st, std::uint16_t packet_id) {
  auto* r = find_qos2(st, packet_id);
  if (!r) return false;
  *r = st.qos2_incoming.back();
  st.qos2_incoming.pop_back();
  if (st.qos2_incoming.empty()) st.qos2_incoming = {};  // idle sessions hold nothing
  return true;
}

std::size_t incoming_in_flight(const session_state& st) {
  std::size_t qos1 = 0;
  st.acks.for_each([&](const pending_ack& a) {
    if (a.type == packet_type::puback) ++qos1;
  });
  return qos1 + st.qos2_incoming.size();
}

// Sends the PUBACKs/PUBRECs at the head of the line that are ready.
void flush_acks(session_actor* self) {
  auto& st = self->state;
  while (!st.acks.empty() && st.acks.front().done) {
    pending_ack a = st.acks.pop_front();
    reason_code rc = is_v5(st) ? a.reason : reason_code::success;
    send_packet(self, mqtt::pub_ack_packet{a.type, a.packet_id, rc, {}});
  }
}

// The route of the PUBLISH with this id and type has finished: every
// acknowledgement waiting for it (the first copy and any resends) is ready.
// The acks of a replaced connection were dropped with it, so an answer
// arriving late finds nothing, or the resend of the same message.
void complete_ack(session_actor* self, std::uint16_t id, packet_type type, reason_code rc) {
  auto& st = self->state;
  st.acks.for_each_mut([&](pending_ack& a) {
    if (!a.done && a.packet_id == id && a.type == type) {
      a.done = true;
      a.reason = rc;
    }
  });
  if (mqtt::is_error(rc) && !is_v5(st) && rc != reason_code::quota_exceeded) {
    // 3.1.1 cannot say that a message was not taken; closing makes the
    // client send it again. Not for full queues: a resend would find them
    // full again, so the message is dropped (and counted) instead.
    return close_for(self, rc, "message could not be routed");
  }
  flush_acks(self);
}

// QoS 0 routes get no answer, so without care a fast publisher could fill a
// shard's mailbox without bound. Every qos0_barrier_interval routes one goes
// as a request instead: its answer means the shard has handled everything
// this session sent it before. Until then the session stops crediting its
// connection, which stops reading after its window: at most one interval
// plus one connection window of this session's messages wait in shards.
constexpr std::uint32_t qos0_barrier_interval = 256;

void route_qos0(session_actor* self, const caf::actor& shard, route_request route) {
  auto& st = self->state;
  if (st.barrier_pending || ++st.routes_since_barrier < qos0_barrier_interval) {
    caf::anon_send(shard, std::move(route));
    return;
  }
  st.routes_since_barrier = 0;
  st.barrier_pending = true;
  self->request(shard, shard_timeout, std::move(route))
      .then([self](const route_outcome&) { release_barrier(self); },
            [self](caf::error&) { release_barrier(self); });
}

// A PUBLISH the client's role does not allow is dropped. MQTT 5 says so in
// the PUBACK or PUBREC (Not authorized). MQTT 3.1.1 has no way to (spec
// 3.3.5): the PUBLISH is acknowledged as usual, which keeps the client from
// resending it forever, and the refusal is counted and logged.
void refuse_publish(session_actor* self, const mqtt::publish_packet& p,
                    counter why = counter::refused_publish_not_authorized,
                    reason_code rc = reason_code::not_authorized) {
  auto& st = self->state;
  count_drop(st, why, p.topic, true);
  if (p.qos == mqtt::qos::at_most_once) return;
  auto type = p.qos == mqtt::qos::at_least_once ? packet_type::puback : packet_type::pubrec;
  if (p.qos == mqtt::qos::exactly_once && !is_v5(st))
    st.qos2_incoming.push_back({p.packet_id, true});
  st.acks.push_back({p.packet_id, type, true, is_v5(st) ? rc : reason_code::success});
  flush_acks(self);
}

// A command for the device registry: handed to the control actor, which
// answers on the response topic. The PUBLISH is acknowledged once handed
// over; the answer says whether the commands succeeded.
void to_control(session_actor* self, mqtt::publish_packet& p) {
  auto& st = self->state;
  control_request r;
  r.topic = p.topic;
  r.payload = std::move(p.payload);
  if (const auto* topic = p.props.string(property_id::response_topic)) r.response_topic = *topic;
  if (const auto* data = p.props.string(property_id::correlation_data)) r.correlation_data = *data;
  r.client_id = st.params.client_id;
  caf::anon_send(st.ctx->registry_control, std::move(r));
  if (p.qos == mqtt::qos::at_most_once) return;
  auto type = p.qos == mqtt::qos::at_least_once ? packet_type::puback : packet_type::pubrec;
  if (p.qos == mqtt::qos::exactly_once) st.qos2_incoming.push_back({p.packet_id, true});
  st.acks.push_back({p.packet_id, type, true, reason_code::success});
  flush_acks(self);
}

void on_publish(session_actor* self, mqtt::publish_packet& p) {
  auto& st = self->state;
  const auto& s = st.ctx->settings;
  metrics::add(counter::packets_received);
  if (!st.sink) return;
  if (auto alias = p.props.number(property_id::topic_alias)) {
    if (*alias == 0 || *alias > s.topic_alias_maximum) {
      metrics::add(counter::refused_topic_alias);
      return close_for(self, reason_code::topic_alias_invalid,
                       "topic alias 0 or above the Topic Alias Maximum");
    }
    if (!st.inbound_aliases) st.inbound_aliases = std::make_unique<std::vector<std::string>>();
    auto& aliases = *st.inbound_aliases;
    if (aliases.size() < *alias) aliases.resize(*alias);
    if (p.topic.empty()) {
      if (aliases[*alias - 1].empty())
        return close_for(self, reason_code::protocol_error, "topic alias used before it was set");
      p.topic = aliases[*alias - 1];
    } else {
      aliases[*alias - 1] = p.topic;
    }
  } else if (p.topic.empty()) {
    return close_for(self, reason_code::protocol_error, "PUBLISH without topic or topic alias");
  }
  if (static_cast<std::uint8_t>(p.qos) > s.maximum_qos) {
    metrics::add(counter::refused_qos_not_supported);
    return close_for(self, reason_code::qos_not_supported, "QoS above the Maximum QoS");
  }
  if (p.retain && !s.retain_available) {
    metrics::add(counter::refused_retain_not_supported);
    return close_for(self, reason_code::retain_not_supported, "retained messages are disabled");
  }
  if (p.props.contains(property_id::subscription_identifier))
    return close_for(self, reason_code::protocol_error,
                     "Subscription Identifier in a PUBLISH from a client");
  if (const auto* response_topic = p.props.string(property_id::response_topic);
      response_topic && mqtt::validate_topic_name(*response_topic) != reason_code::success)
    return close_for(self, reason_code::protocol_error, "Response Topic is not a topic name");
  if (p.qos == mqtt::qos::exactly_once) {
    if (auto* receipt = find_qos2(st, p.packet_id)) {
      // A resent QoS 2 PUBLISH: routed once (or being routed); only the
      // PUBREC is owed, once the route is done.
      st.acks.push_back({p.packet_id, packet_type::pubrec, receipt->routed, reason_code::success});
      flush_acks(self);
      return;
    }
  }
  // Receive Maximum is announced to MQTT 5 clients only. A 3.1.1 client is
  // bounded by its 65535 packet ids instead, and acks flow as fast as
  // routing completes.
  if (is_v5(st) && p.qos != mqtt::qos::at_most_once &&
      incoming_in_flight(st) >= s.receive_maximum) {
    metrics::add(counter::refused_receive_maximum);
    return close_for(self, reason_code::receive_maximum_exceeded,
                     "more QoS 1/2 PUBLISHes unacknowledged than Receive Maximum");
  }
  if (s.max_topic_levels > 0 && topic_levels(p.topic) > s.max_topic_levels)
    return refuse_publish(self, p, counter::refused_topic_levels, reason_code::topic_name_invalid);
  if (!may_publish(st, p.topic)) return refuse_publish(self, p);
  metrics::add(received_counter(p.qos));
  if ((p.topic == registry_control_topic || p.topic == clients_control_topic ||
       p.topic == node_control_topic) &&
      st.ctx->registry_control)
    return to_control(self, p);

  auto m = std::make_shared<app_message>();
  m->topic = std::move(p.topic);
  m->payload = std::make_shared<const std::string>(std::move(p.payload));
  m->qos = p.qos;
  m->retain = p.retain;
  // An interval of 0 counts as none, as in mosquitto: "expires at once"
  // would make delivery to live subscribers a matter of timing.
  if (auto expiry = p.props.number(property_id::message_expiry_interval); expiry && *expiry > 0)
    m->expires_at = now_ms() + std::int64_t{*expiry} * 1000;
  m->props = forwarded_properties(p.props);
  m->publisher = st.params.client_id;
  m->published_us = now_us();
  metrics::message_bytes_received(static_cast<std::uint8_t>(m->qos), m->payload->size());
  // The routing rules say where it goes: its subscribers (through the
  // topic shard), the vehicle's state, archives.
  const broker_context& ctx = *st.ctx;
  const bool state_on = !ctx.state_shards.empty();
  const rules_ptr rules = ctx.rules ? ctx.rules->current() : nullptr;
  routing_decision decision =
      rules ? rules->decide(*m, state_on) : rule_set::unmatched(*m, state_on);
  message_ref msg{std::move(m)};
  // Each of these actors takes what is on its way to it up to a bound;
  // beyond it the message skips that destination, counted.
  auto feed = [](const caf::actor& to, const inflow_ptr& bound, counter full, auto message) {
    if (!bound->try_take()) return metrics::add(full);
    caf::anon_send(to, std::move(message));
  };
  if (decision.state) {
    auto i = ctx.state_shards.slice_for(telemetry_vin(msg->topic));
    feed(ctx.state_shards.at(i), ctx.state_inflows[i], counter::dropped_state_backlog,
         telemetry_forward{msg});
  }
  for (auto i : decision.webhook_rules)
    if (const auto& w = rules->targets(i).webhook; w.actor)
      feed(w.actor, w.inflow, counter::dropped_rules_backlog, webhook_item{msg});
  if (!decision.republish_rules.empty() && !ctx.rule_workers.empty()) {
    const fed_actor& worker = ctx.rule_workers.for_key(telemetry_vin(msg->topic));
    for (auto i : decision.republish_rules) {
      const auto& r = rules->rules()[i];
      feed(
          worker.actor, worker.inflow, counter::dropped_rules_backlog,
          rule_hit{r.name, r.republish_topic, r.subject, static_cast<std::uint8_t>(r.format), msg});
    }
  }
  std::vector<const fed_actor*> archives;
  for (auto i : decision.archive_rules)
    if (const auto& a = rules->targets(i).archive; a.actor) archives.push_back(&a);
  const caf::actor& shard = ctx.shard_for_topic(msg->topic);
  route_request route{msg};

  if (p.qos == mqtt::qos::at_most_once) {
    for (const auto* a : archives)
      feed(a->actor, a->inflow, counter::dropped_rules_backlog, archive_append{msg});
    if (decision.deliver) route_qos0(self, shard, std::move(route));
    return;
  }
  std::uint16_t id = p.packet_id;
  auto type = p.qos == mqtt::qos::at_least_once ? packet_type::puback : packet_type::pubrec;
  st.acks.push_back({id, type, false, reason_code::success});
  if (p.qos == mqtt::qos::exactly_once) st.qos2_incoming.push_back({id, false});
  bool exactly_once = p.qos == mqtt::qos::exactly_once;
  // The acknowledgement waits for the route (and with it for the message's
  // storage in the queues of persistent subscribers) and, for QoS 2 of a
  // persistent session, for the receipt of its packet id to be stored, so
  // that a resend after a restart is recognised.
  struct ack_join {
    int pending = 1;
    reason_code rc = reason_code::success;
    bool receipt_stored = true;
  };
  auto join = std::make_shared<ack_join>();
  auto settle = [self, id, type, join] {
    if (--join->pending > 0) return;
    complete_ack(self, id, type,
                 join->receipt_stored ? join->rc : reason_code::implementation_specific_error);
  };
  if (exactly_once && is_persistent(st) && st.ctx->storage_gate) {
    ++join->pending;
    store_then(
        self,
        [&](durable_store::completion done) {
          return accepted(
              st.ctx->store->save_qos2_received(st.params.client_id, id, std::move(done)));
        },
        [join, settle](bool stored) {
          join->receipt_stored = stored;
          settle();
        });
  }
  // A QoS 1/2 message is acknowledged once every archive it goes to has
  // written it, as it is once the subscribers' copies are stored.
  for (const auto* a : archives) {
    if (!a->inflow->try_take()) {
      // The archive is that far behind: Quota exceeded (0x97), as for a
      // full queue, rather than an unbounded mailbox.
      metrics::add(counter::dropped_rules_backlog);
      join->rc = reason_code::quota_exceeded;
      continue;
    }
    ++join->pending;
    self->request(a->actor, shard_timeout, archive_append{msg})
        .then(
            [join, settle](bool written) {
              if (!written) join->rc = reason_code::implementation_specific_error;
              settle();
            },
            [join, settle](caf::error&) {
              join->rc = reason_code::implementation_specific_error;
              settle();
            });
  }
  if (!decision.deliver) {
    // For the rules' other destinations only: nothing to route.
    if (exactly_once)
      if (auto* receipt = find_qos2(st, id)) receipt->routed = true;
    settle();
    return;
  }
  self->request(shard, shard_timeout, std::move(route))
      .then(
          [self, id, exactly_once, join, settle](const route_outcome& outcome) {
            if (exactly_once)
              if (auto* receipt = find_qos2(self->state, id)) receipt->routed = true;
            if (outcome.receivers == 0)
              join->rc = outcome.refused > 0 ? reason_code::quota_exceeded
                                             : reason_code::no_matching_subscribers;
            settle();
          },
          [self, id, exactly_once, join, settle](caf::error&) {
            // Not routed: a QoS 2 id must not stay marked as received, so
            // the client's resend is routed again.
            auto& st = self->state;
            if (exactly_once && erase_qos2(st, id) && is_persistent(st) && st.ctx->store)
              st.ctx->store->erase_qos2_received(st.params.client_id, id, ignore_outcome);
            join->rc = reason_code::implementation_specific_error;
            settle();
          });
}

void on_pub_ack(session_actor* self, const mqtt::pub_ack_packet& a) {
  auto& st = self->state;
  metrics::add(counter::packets_received);
  if (!st.sink) return;
  using stage = inflight_message::stage;
  switch (a.type) {
    case packet_type::puback: {
      auto it = st.inflight.find(a.packet_id);
      if (it != st.inflight.end() && it->second.at == stage::awaiting_puback) {
        forget_delivery(st, it->second.d);
        forget_inflight(st, it);
      }
      break;
    }
    case packet_type::pubrec: {
      auto it = st.inflight.find(a.packet_id);
      if (it == st.inflight.end() || it->second.at == stage::awaiting_puback) {
        send_packet(self, mqtt::pub_ack_packet{packet_type::pubrel,
                                               a.packet_id,
                                               is_v5(st) ? reason_code::packet_identifier_not_found
                                                         : reason_code::success,
                                               {}});
        break;
      }
      if (mqtt::is_error(a.reason)) {
        // The client refused it; the exchange ends here.
        forget_delivery(st, it->second.d);
        forget_inflight(st, it);
        break;
      }
      if (it->second.held) {
        // Acknowledged from before the reconnect: the PUBREL goes out now.
        it->second.held = false;
        --st.held_count;
      } else {
        st.inflight_bytes -= wire_bytes(it->second);
      }
      it->second.at = stage::awaiting_pubcomp;
      it->second.d.msg = {};  // the payload is no longer needed
      mqtt::pub_ack_packet pubrel{packet_type::pubrel, a.packet_id, reason_code::success, {}};
      if (it->second.d.stored_id == 0 || !st.ctx->storage_gate) {
        send_packet(self, pubrel);
        break;
      }
      // From storage: the PUBREL waits until the stage is stored, so that a
      // restart resends the PUBREL, not the PUBLISH, which the client would
      // take for a new message once it has released this id.
      auto generation = st.connection_generation;
      auto sequence = it->second.sequence;
      store_then(
          self,
          [&](durable_store::completion done) {
            return accepted(st.ctx->store->save_outgoing_stage(
                st.params.client_id, st.incarnation, it->second.d, a.packet_id,
                outgoing_stage::pubrel_sent, std::move(done)));
          },
          [self, pubrel, generation, sequence](bool) {
            auto& st = self->state;
            auto it = st.inflight.find(pubrel.packet_id);
            // Completed meanwhile, or held for a new connection, which resends it.
            if (generation != st.connection_generation || it == st.inflight.end() ||
                it->second.sequence != sequence)
              return;
            send_packet(self, pubrel);
          });
      break;
    }
    case packet_type::pubcomp: {
      auto it = st.inflight.find(a.packet_id);
      if (it != st.inflight.end() && it->second.at == stage::awaiting_pubcomp) {
        forget_delivery(st, it->second.d);
        forget_inflight(st, it);
      }
      break;
    }
    case packet_type::pubrel: {
      bool known = erase_qos2(st, a.packet_id);
      reason_code rc =
          known || !is_v5(st) ? reason_code::success : reason_code::packet_identifier_not_found;
      mqtt::pub_ack_packet pubcomp{packet_type::pubcomp, a.packet_id, rc, {}};
      if (!known || !is_persistent(st) || !st.ctx->storage_gate) {
        send_packet(self, pubcomp);
        break;
      }
      // The PUBCOMP frees the id for the client's next message: the release
      // must be durable first, or a restart would take that message for a
      // resend of this one. Without it the connection closes, and the
      // client sends its PUBREL again on the next.
      auto generation = st.connection_generation;
      store_then(
          self,
          [&](durable_store::completion done) {
            return accepted(st.ctx->store->erase_qos2_received(st.params.client_id, a.packet_id,
                                                               std::move(done)));
          },
          [self, pubcomp, generation](bool stored) {
            auto& st = self->state;
            if (generation != st.connection_generation) return;
            if (!stored) {
              st.qos2_incoming.push_back({pubcomp.packet_id, true});
              return close_for(self, reason_code::implementation_specific_error,
                               "the release of a QoS 2 packet id could not be stored");
            }
            send_packet(self, pubcomp);
          });
      break;
    }
    default:
      break;
  }
  pump(self);
}

struct subscribe_job {
  std::uint16_t packet_id = 0;
  std::uint64_t generation = 0;
  std::vector<reason_code> reasons;
  std::vector<std::string> filters;  // the granted ones
  std::size_t pending = 0;
  std::vector<delivery> retained;
  bool stored = true;
};

void unsubscribe_from_shards(session_actor* self, const std::string& filter) {
  for (const auto& shard : shards_for_filter(*self->state.ctx, filter))
    caf::anon_send(shard, unsubscribe_request{self, filter});
}

void finish_subscribe(session_actor* self, subscribe_job& job) {
  auto& st = self->state;
  if (!job.stored) {
    // The subscriptions would not survive a restart: the client is told
    // they failed, and they are taken back (a filter this SUBSCRIBE only
    // changed is removed too). The record on disk keeps what it had.
    for (const auto& filter : job.filters) {
      auto it = std::lower_bound(
          st.subscriptions.begin(), st.subscriptions.end(), filter,
          [](const subscription_record& e, const std::string& f) { return e.filter < f; });
      if (it != st.subscriptions.end() && it->filter == filter) st.subscriptions.erase(it);
      unsubscribe_from_shards(self, filter);
    }
    for (auto& rc : job.reasons)
      if (!mqtt::is_error(rc))
        rc =
            is_v5(st) ? reason_code::implementation_specific_error : reason_code::unspecified_error;
    job.retained.clear();
  }
  if (job.generation == st.connection_generation)
    send_packet(self, mqtt::suback_packet{job.packet_id, job.reasons, {}});
  for (auto& d : job.retained)
    deliver(self, std::move(d));
}

void on_subscribe(session_actor* self, mqtt::subscribe_packet& p) {
  auto& st = self->state;
  const auto& s = st.ctx->settings;
  metrics::add(counter::packets_received);
  if (!st.sink) return;
  std::uint32_t subscription_id = 0;
  if (auto id = p.props.number(property_id::subscription_identifier)) {
    if (!s.subscription_identifiers)
      return close_for(self, reason_code::subscription_identifiers_not_supported,
                       "subscription identifiers are disabled");
    subscription_id = *id;
  }
  auto job = std::make_shared<subscribe_job>();
  job->packet_id = p.packet_id;
  job->generation = st.connection_generation;
  job->reasons.resize(p.entries.size(), reason_code::unspecified_error);
  std::vector<std::pair<std::vector<caf::actor>, subscribe_request>> requests;
  const std::string consent_subject = consent_subject_of(st);
  auto access = access_of(st);
  for (std::size_t i = 0; i < p.entries.size(); ++i) {
    auto& e = p.entries[i];
    if (mqtt::validate_topic_filter(e.filter) != reason_code::success) {
      metrics::add(counter::refused_subscription_invalid);
      job->reasons[i] = reason_code::topic_filter_invalid;
      continue;
    }
    auto shared = mqtt::parse_shared_filter(e.filter);
    if (shared && e.options.no_local)
      return close_for(self, reason_code::protocol_error, "No Local on a shared subscription");
    if (shared && !s.shared_subscriptions) {
      metrics::add(counter::refused_subscription_invalid);
      job->reasons[i] = reason_code::shared_subscriptions_not_supported;
      continue;
    }
    if (!s.wildcard_subscriptions && mqtt::has_wildcard(shared ? shared->filter : e.filter)) {
      metrics::add(counter::refused_subscription_invalid);
      job->reasons[i] = reason_code::wildcard_subscriptions_not_supported;
      continue;
    }
    if (s.max_topic_levels > 0 && topic_levels(e.filter) > s.max_topic_levels) {
      count_drop(st, counter::refused_topic_levels, e.filter, true);
      job->reasons[i] =
          is_v5(st) ? reason_code::topic_filter_invalid : reason_code::unspecified_error;
      continue;
    }
    if (!may_subscribe(access, e.filter)) {
      count_drop(st, counter::refused_subscribe_not_authorized, e.filter, true);
      job->reasons[i] = is_v5(st) ? reason_code::not_authorized : reason_code::unspecified_error;
      continue;
    }
    e.options.max_qos = std::min(e.options.max_qos, static_cast<mqtt::qos>(s.maximum_qos));
    job->reasons[i] = static_cast<reason_code>(e.options.max_qos);
    auto slot = find_subscription(st, e.filter);
    bool existed = slot != st.subscriptions.end() && slot->filter == e.filter;
    if (!existed && s.max_subscriptions_per_client > 0 &&
        st.subscriptions.size() >= s.max_subscriptions_per_client) {
      count_drop(st, counter::refused_subscription_quota, e.filter, true);
      job->reasons[i] = is_v5(st) ? reason_code::quota_exceeded : reason_code::unspecified_error;
      continue;
    }
    if (existed)
      *slot = subscription_record{e.filter, e.options, subscription_id};
    else
      st.subscriptions.insert(slot, subscription_record{e.filter, e.options, subscription_id});
    bool send_retained =
        !shared && (e.options.retain_handling == mqtt::retain_handling::send_on_subscribe ||
                    (e.options.retain_handling == mqtt::retain_handling::send_if_new_subscription &&
                     !existed));
    job->filters.push_back(e.filter);
    requests.emplace_back(
        shards_for_filter(*st.ctx, e.filter),
        subscribe_request{self, st.params.client_id, e.filter, e.options, subscription_id,
                          send_retained, st.announced_persistent, st.incarnation, consent_subject});
  }
  for (auto& [targets, req] : requests)
    job->pending += targets.size();
  // The SUBACK waits until the subscriptions are durable as well.
  ++job->pending;
  persist_then(self, [self, job](bool stored) {
    job->stored = stored;
    if (--job->pending == 0) finish_subscribe(self, *job);
  });
  if (job->pending == 0) return;  // finished by persist_then
  for (auto& [targets, req] : requests) {
    for (const auto& shard : targets) {
      self->request(shard, shard_timeout, req)
          .then(
              [self, job](retained_batch& batch) {
                for (auto& d : batch.deliveries)
                  job->retained.push_back(std::move(d));
                if (--job->pending == 0) finish_subscribe(self, *job);
              },
              [self, job](caf::error&) {
                if (--job->pending == 0) finish_subscribe(self, *job);
              });
    }
  }
}

void on_unsubscribe(session_actor* self, const mqtt::unsubscribe_packet& p) {
  auto& st = self->state;
  metrics::add(counter::packets_received);
  if (!st.sink) return;
  mqtt::unsuback_packet ack{p.packet_id, {}, {}};
  for (const auto& filter : p.filters) {
    if (mqtt::validate_topic_filter(filter) != reason_code::success) {
      ack.reasons.push_back(reason_code::topic_filter_invalid);
      continue;
    }
    auto it = find_subscription(st, filter);
    if (it == st.subscriptions.end() || it->filter != filter) {
      ack.reasons.push_back(reason_code::no_subscription_existed);
      continue;
    }
    st.subscriptions.erase(it);
    unsubscribe_from_shards(self, filter);
    ack.reasons.push_back(reason_code::success);
  }
  // Like the SUBACK, the UNSUBACK waits until the change is durable, so a
  // restart cannot bring back a subscription the client saw removed. When
  // it cannot be stored an MQTT 5 client is told so; a 3.1.1 UNSUBACK has
  // no reason codes, so that connection closes instead.
  auto generation = st.connection_generation;
  persist_then(self, [self, ack, generation](bool stored) mutable {
    auto& st = self->state;
    if (generation != st.connection_generation) return;
    if (!stored) {
      if (!is_v5(st))
        return close_for(self, reason_code::implementation_specific_error,
                         "the unsubscription could not be stored");
      for (auto& rc : ack.reasons)
        if (rc == reason_code::success) rc = reason_code::implementation_specific_error;
    }
    send_packet(self, ack);
  });
}

void on_disconnect(session_actor* self, const mqtt::disconnect_packet& d) {
  auto& st = self->state;
  metrics::add(counter::packets_received);
  if (!st.sink) return;
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

// The stored queue and window of a session loaded at start-up. Messages
// sent before the restart wait, held, to be resent under their packet ids
// with DUP (QoS 2: a PUBREL where the PUBREC had arrived); the rest is
// queued in its order. Expired messages go. The queue takes what was stored even beyond
// the current bounds: those messages were acknowledged to their publishers.
// Removes the subscriptions the rules in force no longer allow, from the
// session and (when `subscribed`) from the shards; true if any went. Run
// when a persistent session comes back and when the policy changes, so
// nobody keeps a subscription that would be refused today.
bool drop_unauthorized_subscriptions(session_actor* self, bool subscribed) {
  auto& st = self->state;
  auto access = access_of(st);
  if (!access.policy) return false;
  std::vector<std::string> removed;
  std::erase_if(st.subscriptions, [&](const subscription_record& sub) {
    if (may_subscribe(access, sub.filter)) return false;
    removed.push_back(sub.filter);
    return true;
  });
  for (const auto& filter : removed) {
    metrics::add(counter::removed_subscription_not_authorized);
    record_refusal(st, counter::removed_subscription_not_authorized, filter, true);
    spdlog::info("client '{}': subscription '{}' removed, its role no longer allows it",
                 st.params.client_id, filter);
    if (subscribed) unsubscribe_from_shards(self, filter);
  }
  return !removed.empty();
}

// The policy changed: what this client holds is checked again. A client
// whose role is gone, or no longer allows its client id, is disconnected.
void on_access_changed(session_actor* self) {
  auto& st = self->state;
  // An offline session's record keeps the removed filters until it is next
  // written: restore and resume check them again anyway.
  if (drop_unauthorized_subscriptions(self, true) && st.persisted && st.sink) persist(self);
  if (!st.sink) return;
  auto access = access_of(st);
  if (!access.policy) return;
  if (!access.role || !access_policy::may_use_client_id(*access.role, access.who)) {
    metrics::add(counter::refused_client_id_not_allowed);
    close_for(self, reason_code::not_authorized,
              "the access rules no longer allow this login this client identifier");
  }
}

// The registry record of this session's vehicle changed: the connected
// device asks whether it may stay (a replaced, suspended or revoked device
// goes at once, with Administrative action), and takes a new region.
void on_vehicle_changed(session_actor* self, const vehicle_changed& changed) {
  auto& st = self->state;
  if (!st.sink || !st.params.principal) return;
  const auto& who = *st.params.principal;
  registry_check check{changed.vin, who.fingerprint};
  auto generation = st.connection_generation;
  self->request(st.ctx->registry_shards.for_key(changed.vin), caf::infinite, std::move(check))
      .then(
          [self, generation](registry_verdict& verdict) {
            auto& st = self->state;
            if (generation != st.connection_generation || !st.sink) return;
            if (!verdict.allowed) {
              metrics::add(counter::disconnected_by_registry);
              spdlog::info("client '{}' disconnected: {}", st.params.client_id, verdict.reason);
              return close_for(self, reason_code::administrative_action, verdict.reason.c_str());
            }
            if (verdict.region != st.params.principal->region) {
              client_principal moved = *st.params.principal;
              moved.region = std::move(verdict.region);
              st.params.principal = make_principal(std::move(moved));
              on_access_changed(self);  // {region} rules now mean another region
            }
          },
          [](caf::error&) {});
}

// A token login lasts as long as its token: the connection closes when it
// expires, unless AUTH brought a fresh one first (which arms a new check).
void arm_token_expiry(session_actor* self) {
  auto& st = self->state;
  if (!st.params.principal || st.params.principal->method != auth_method::jwt) return;
  std::int64_t left_ms = st.params.principal->expires_at * 1000 - now_ms();
  self->delayed_send(self, std::chrono::milliseconds(std::max<std::int64_t>(left_ms, 0)),
                     token_expiry{st.connection_generation});
}

void on_token_expiry(session_actor* self, const token_expiry& t) {
  auto& st = self->state;
  if (t.generation != st.connection_generation || !st.sink || !st.params.principal) return;
  // A renewed token moved the end; a check armed for the old one is stale.
  if (st.params.principal->expires_at * 1000 > now_ms()) return;
  metrics::add(counter::disconnected_token_expired);
  spdlog::info("client '{}' disconnected: its token expired", st.params.client_id);
  close_for(self, reason_code::not_authorized, "token expired");
}

void on_reauthentication(session_actor* self, reauthentication& r) {
  auto& st = self->state;
  if (r.connection != st.connection()) return;
  if (!st.params.enhanced_auth)
    return close_for(self, reason_code::protocol_error,
                     "AUTH without an authentication method agreed at CONNECT");
  if (!r.ok) {
    metrics::add(counter::refused_not_authorized);
    return close_for(self, reason_code::not_authorized, r.why.c_str());
  }
  if (!st.params.principal || r.principal->identity != st.params.principal->identity) {
    metrics::add(counter::refused_not_authorized);
    return close_for(self, reason_code::not_authorized,
                     "re-authentication must prove the same identity");
  }
  client_principal renewed = *st.params.principal;
  renewed.expires_at = r.principal->expires_at;
  st.params.principal = make_principal(std::move(renewed));
  mqtt::auth_packet ok{reason_code::success, {}};
  ok.props.add(property_id::authentication_method, std::string{jwt_authentication_method});
  send_packet(self, ok);
  arm_token_expiry(self);
}

void restore_outgoing(session_actor* self, std::vector<stored_delivery>& outgoing, epoch_ms now) {
  auto& st = self->state;
  using stage = inflight_message::stage;
  epoch_ms next_expiry = 0;
  for (auto& o : outgoing) {
    delivery& d = o.d;
    if (expired(*d.msg, now)) {
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
    st.queue.push_back(std::move(d));
    metrics::queued_delta(1);
  }
  if (next_expiry != 0) arm_sweep(self, next_expiry);
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

}  // namespace

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
        if (!st.sink) return false;
        metrics::add(counter::disconnected_by_operator);
        spdlog::info("client '{}' disconnected by an operator: {}", st.params.client_id, r.why);
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
        if (st.sink) {
          metrics::add(counter::sessions_taken_over);
          if (is_v5(st))
            send_packet(self, mqtt::disconnect_packet{reason_code::session_taken_over, {}});
          close_sink(self);
          tell_presence(self, false);
          st.sink = nullptr;
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
        on_pub_ack(self, a);
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
      [self](const will_timer& t) {
        auto& st = self->state;
        if (t.generation != st.timer_generation || !st.will_armed) return;
        publish_will(self);
        // The record loses the will, so a restart does not fire it again;
        // the client left one will delay ago.
        auto delay = std::min(st.params.will.delay_interval, st.params.session_expiry);
        persist(self, now_ms() - std::int64_t{delay} * 1000);
      },
      [self](const expiry_timer& t) {
        auto& st = self->state;
        if (t.generation != st.timer_generation || st.sink) return;
        metrics::add(counter::sessions_expired);
        end_session(self);
      },
  };
}

}  // namespace convoy
