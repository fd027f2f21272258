#include "actors/session/session_internal.hpp"

#include <algorithm>
#include <chrono>

#include <caf/send.hpp>

#include "actors/core/metrics.hpp"
#include "protocol/encoder.hpp"

namespace convoy::session_detail {

namespace {

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

// Frames wait in the outbox until the session has handled the messages
// already in its mailbox: the flush request queues behind them. Under load
// one write (often one system call) then carries many packets; when idle,
// the flush follows at once. A deep mailbox must not hold frames back for
// long, or the client's acknowledgements, and with them the window, stall:
// a few frames are written at once.
constexpr std::size_t outbox_frames = 16;

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
  if (frame.droppable && st.phase == session_phase::connecting &&
      st.outbox.size() >= connack_wait_frames) {
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

std::uint16_t allocate_packet_id(session_state& st) {
  // The window is at most 65535 wide, so a free id always exists when called.
  while (st.next_packet_id == 0 || st.inflight.count(st.next_packet_id) > 0)
    ++st.next_packet_id;
  return st.next_packet_id++;
}

std::size_t wire_bytes(const inflight_message& m) {
  return m.d.msg.ptr ? message_bytes(m.d) : 0;
}

// After a reconnect: resend what the client has not acknowledged, in the
// order it was first sent (spec 4.4), PUBLISH with DUP and PUBREL as is.
// The new connection may have a smaller window than the old one, so every
// unacknowledged message is held back first and resent as the window allows.
void resend_held(session_actor* self) {
  auto& st = self->state;
  if (st.held_count == 0 || !st.connected()) return;
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

}  // namespace

// Hands the frames written so far to the connection in one write.
void flush_outbox(session_actor* self) {
  auto& st = self->state;
  // While connecting, the outbox holds what follows the CONNACK.
  if (st.outbox.empty() || st.phase == session_phase::connecting) return;
  std::vector<outbound_frame> frames;
  frames.swap(st.outbox);  // the outbox holds no memory between runs
  if (!st.connected()) return;
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
  if (!st.connected()) return;
  outbound_frame frame;
  if (!mqtt::encode_within(p, st.params.version, st.params.client_maximum_packet_size,
                           frame.head)) {
    count_drop(st, counter::dropped_too_large_for_client);
    return;
  }
  queue_frame(self, std::move(frame));
}

// Encodes one delivery as a PUBLISH sharing the message's payload bytes.
// False if the client's Maximum Packet Size forbids it or the connection
// refused a droppable (QoS 0) frame.
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

void forget_inflight(session_state& st, std::map<std::uint16_t, inflight_message>::iterator it) {
  if (it->second.held)
    --st.held_count;
  else
    st.inflight_bytes -= wire_bytes(it->second);
  st.inflight.erase(it);
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
    if (st.connected()) {
      send_publish(self, d, 0, false);
    } else if (st.ctx->settings.queue_qos0_messages && is_persistent(st)) {
      enqueue(self, std::move(d));
    }
    // Otherwise QoS 0 is not kept for offline clients (mosquitto's default).
    return;
  }
  if (st.connected() && st.held_count == 0 && st.queue.empty() &&
      window_has_room(st, message_bytes(d)))
    send_tracked(self, std::move(d));
  else
    enqueue(self, std::move(d));
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

void on_delivery_ack(session_actor* self, const mqtt::pub_ack_packet& a) {
  auto& st = self->state;
  if (!st.connected()) return;
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
    default:
      break;
  }
}

}  // namespace convoy::session_detail
