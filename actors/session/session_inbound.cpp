#include "actors/session/session_internal.hpp"

#include <algorithm>
#include <atomic>
#include <memory>

#include <caf/send.hpp>

#include "actors/core/metrics.hpp"
#include "actors/rules/archive_writer.hpp"
#include "actors/rules/rule_worker.hpp"
#include "actors/rules/telemetry_rules.hpp"
#include "actors/rules/webhook.hpp"
#include "actors/session/publish_checks.hpp"
#include "actors/vehicle/registry_control.hpp"
#include "actors/vehicle/vehicle_state.hpp"
#include "protocol/topic.hpp"

namespace convoy::session_detail {

namespace {

// The time stamp of a message from a client: the node's clock in
// microseconds, but never the same twice on one node, so that a message
// reaching a moving session both ways is told from another one published
// in the same microsecond (session_move.cpp).
std::int64_t unique_now_us() {
  static std::atomic<std::int64_t> last{0};
  std::int64_t now = now_us();
  std::int64_t seen = last.load(std::memory_order_relaxed);
  while (true) {
    std::int64_t next = std::max(now, seen + 1);
    if (last.compare_exchange_weak(seen, next, std::memory_order_relaxed)) return next;
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

void release_barrier(session_actor* self) {
  auto& st = self->state;
  st.barrier_pending = false;
  if (st.connected() && st.withheld_credit > 0) st.sink->consumed(st.withheld_credit);
  st.withheld_credit = 0;
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

publish_checks::limits limits_of(const broker_settings& s) {
  return {s.topic_alias_maximum, s.maximum_qos, s.retain_available, s.receive_maximum,
          s.max_topic_levels};
}

// A check refused the PUBLISH in a way that ends the connection; counted
// under its reason (Protocol Errors are counted by close_for).
void refuse_connection(session_actor* self, const publish_checks::verdict& v) {
  switch (v.code) {
    case reason_code::topic_alias_invalid:
      metrics::add(counter::refused_topic_alias);
      break;
    case reason_code::qos_not_supported:
      metrics::add(counter::refused_qos_not_supported);
      break;
    case reason_code::retain_not_supported:
      metrics::add(counter::refused_retain_not_supported);
      break;
    case reason_code::receive_maximum_exceeded:
      metrics::add(counter::refused_receive_maximum);
      break;
    default:
      break;
  }
  close_for(self, v.code, v.why);
}

// The message a PUBLISH from this client becomes, shared by every delivery.
std::shared_ptr<app_message> message_of(const session_state& st, mqtt::publish_packet& p) {
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
  m->published_us = unique_now_us();
  metrics::message_bytes_received(static_cast<std::uint8_t>(m->qos), m->payload->size());
  return m;
}

// Each of these actors takes what is on its way to it up to a bound; beyond
// it the message skips that destination, counted.
template <class Message>
void feed(const caf::actor& to, const inflow_ptr& bound, counter full, Message message) {
  if (!bound->try_take()) return metrics::add(full);
  caf::anon_send(to, std::move(message));
}

// The rules' destinations that do not hold up the acknowledgement: the
// vehicle's state, webhooks, republishing rule workers.
void feed_rule_destinations(const broker_context& ctx, const rule_set* rules,
                            const routing_decision& decision, const message_ref& msg) {
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
}

// A QoS 1/2 message goes to its shard and archives; its PUBACK or PUBREC
// waits in line until they have it.
void route_acknowledged(session_actor* self, mqtt::qos qos, std::uint16_t id,
                        const message_ref& msg, const caf::actor& shard, bool deliver,
                        const std::vector<const fed_actor*>& archives) {
  auto& st = self->state;
  route_request route{msg};
  auto type = qos == mqtt::qos::at_least_once ? packet_type::puback : packet_type::pubrec;
  st.acks.push_back({id, type, false, reason_code::success});
  if (qos == mqtt::qos::exactly_once) st.qos2_incoming.push_back({id, false});
  bool exactly_once = qos == mqtt::qos::exactly_once;
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
  if (!deliver) {
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

// The connection ends with 0x9C Use another server and a Server Reference
// to a member this node knows (0x88 Server unavailable when it knows none;
// 3.1.1 just closes), so that an unacknowledged PUBLISH goes again there.
void leave_for_a_member(session_actor* self) {
  metrics::add(counter::refused_not_member);
  const std::string referral = self->state.ctx->standing->referral();
  constexpr const char* why = "this node is not a member of its cluster now";
  say_goodbye(self,
              referral.empty() ? reason_code::server_unavailable : reason_code::use_another_server,
              why, referral);
  close_sink(self);
  on_connection_lost(self, false);
}

}  // namespace

// Lets the connection read on: one more of its packets is handled. Held back
// while a QoS 0 barrier is pending (see route_qos0).
void credit_connection(session_actor* self) {
  auto& st = self->state;
  if (!st.connected()) return;
  if (st.barrier_pending) {
    ++st.withheld_credit;
    return;
  }
  st.sink->consumed(1);
}

void on_publish(session_actor* self, mqtt::publish_packet& p) {
  auto& st = self->state;
  const auto& s = st.ctx->settings;
  metrics::add(counter::packets_received);
  if (!st.connected()) return;
  // Refused by the packet alone: the connection closes.
  if (auto v = publish_checks::check_packet(p, limits_of(s), st.inbound_aliases); !v.accepted())
    return refuse_connection(self, v);
  if (p.qos == mqtt::qos::exactly_once) {
    if (auto* receipt = find_qos2(st, p.packet_id)) {
      // A resent QoS 2 PUBLISH: routed once (or being routed); only the
      // PUBREC is owed, once the route is done.
      st.acks.push_back({p.packet_id, packet_type::pubrec, receipt->routed, reason_code::success});
      flush_acks(self);
      return;
    }
  }
  // A node that is not a member now acknowledges nothing a partition could
  // take back: the client goes to a member, its PUBLISH unacknowledged.
  if (p.qos != mqtt::qos::at_most_once && st.ctx->standing && !st.ctx->standing->member())
    return leave_for_a_member(self);
  // A new message: one more in flight than allowed closes the connection
  // (acks to 3.1.1 clients flow as fast as routing completes).
  if (auto v = publish_checks::check_receive_maximum(st.params.version, p.qos,
                                                     incoming_in_flight(st), s.receive_maximum);
      !v.accepted())
    return refuse_connection(self, v);
  // Refused messages leave the connection open.
  if (auto v = publish_checks::check_topic_levels(p.topic, s.max_topic_levels); !v.accepted())
    return refuse_publish(self, p, counter::refused_topic_levels, v.code);
  if (!may_publish(st, p.topic)) return refuse_publish(self, p);
  metrics::add(received_counter(p.qos));
  if ((p.topic == registry_control_topic || p.topic == clients_control_topic ||
       p.topic == node_control_topic) &&
      st.ctx->registry_control)
    return to_control(self, p);

  std::shared_ptr<app_message> m = message_of(st, p);
  // The routing rules say where it goes: its subscribers (through the
  // topic shard), the vehicle's state, archives.
  const broker_context& ctx = *st.ctx;
  const bool state_on = !ctx.state_shards.empty();
  const rules_ptr rules = ctx.rules ? ctx.rules->current() : nullptr;
  routing_decision decision =
      rules ? rules->decide(*m, state_on) : rule_set::unmatched(*m, state_on);
  message_ref msg{std::move(m)};
  feed_rule_destinations(ctx, rules.get(), decision, msg);
  std::vector<const fed_actor*> archives;
  for (auto i : decision.archive_rules)
    if (const auto& a = rules->targets(i).archive; a.actor) archives.push_back(&a);
  const caf::actor& shard = ctx.shard_for_topic(msg->topic);

  if (p.qos == mqtt::qos::at_most_once) {
    for (const auto* a : archives)
      feed(a->actor, a->inflow, counter::dropped_rules_backlog, archive_append{msg});
    if (decision.deliver) route_qos0(self, shard, route_request{msg});
    return;
  }
  route_acknowledged(self, p.qos, p.packet_id, msg, shard, decision.deliver, archives);
}

// A PUBREL releases the packet id of a QoS 2 PUBLISH from the client; the
// PUBCOMP says so.
void on_pubrel(session_actor* self, const mqtt::pub_ack_packet& a) {
  auto& st = self->state;
  if (!st.connected()) return;
  bool known = erase_qos2(st, a.packet_id);
  reason_code rc =
      known || !is_v5(st) ? reason_code::success : reason_code::packet_identifier_not_found;
  mqtt::pub_ack_packet pubcomp{packet_type::pubcomp, a.packet_id, rc, {}};
  if (!known || !is_persistent(st) || !st.ctx->storage_gate) return send_packet(self, pubcomp);
  // The PUBCOMP frees the id for the client's next message: the release
  // must be durable first, or a restart would take that message for a
  // resend of this one. Without it the connection closes, and the
  // client sends its PUBREL again on the next.
  auto generation = st.connection_generation;
  store_then(
      self,
      [&](durable_store::completion done) {
        return accepted(
            st.ctx->store->erase_qos2_received(st.params.client_id, a.packet_id, std::move(done)));
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
}

}  // namespace convoy::session_detail
