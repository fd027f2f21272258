#include "actors/session/session_internal.hpp"

#include <algorithm>
#include <chrono>

#include <caf/send.hpp>

#include "actors/core/metrics.hpp"

namespace convoy::session_detail {

namespace {

// Whether QoS 1/2 messages for this session must be refused: its queue is
// full and holds no QoS 0 message to drop instead.
bool queue_refuses(const session_state& st) {
  const auto& s = st.ctx->settings;
  return !st.queue.empty() && st.queued_qos0 == 0 &&
         (st.queue.size() >= s.max_queued_messages || st.queued_bytes >= s.max_queued_bytes);
}

// Expired messages wait in a queue until a sweep drops them: one timer per
// session with a queue of expiring messages, at most a minute apart, so an
// offline vehicle does not hold expired messages until it returns.
constexpr epoch_ms max_sweep_delay_ms = 60'000;

}  // namespace

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

// Moves queued messages into the in-flight window while there is room.
void drain_queue(session_actor* self) {
  auto& st = self->state;
  epoch_ms now = now_ms();
  bool moved = false;
  while (st.connected() && st.held_count == 0 && !st.queue.empty() &&
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

}  // namespace convoy::session_detail
