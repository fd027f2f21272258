#include <algorithm>
#include <memory>
#include <set>
#include <tuple>

#include <spdlog/spdlog.h>
#include <caf/send.hpp>

#include "actors/core/metrics.hpp"
#include "actors/routing/session_moves.hpp"
#include "actors/session/session_internal.hpp"

namespace convoy::session_detail {

// A session moving between members (actors/routing/session_moves.hpp). The
// old session hands its record over and stays subscribed, gathering what
// still reaches it, until the new one is subscribed on its own node; then
// it leaves its shards and hands the rest over. A message routed to both
// in between arrives twice and is kept once (same publisher, time and
// topic), so nothing is lost and nothing doubles.

namespace {

// How long the old session waits for the new one to be subscribed.
constexpr auto move_window = std::chrono::seconds(10);

// A message as both members see it: its publisher's session stamped it.
using message_key = std::tuple<std::int64_t, std::string, std::string>;

message_key key_of(const delivery& d) {
  return {d.msg->published_us, d.msg->publisher, d.msg->topic};
}

// Everything the session holds, as a record another member can restore:
// the window in send order (resent there with DUP), then the queue. The
// storage ids stay here: the new member stores its own copies.
session_record export_record(session_state& st) {
  session_record r;
  r.params = st.params;
  r.subscriptions = st.subscriptions;
  r.disconnected_at = now_ms();
  r.incarnation = st.incarnation;
  for (const auto& q : st.qos2_incoming)
    r.qos2_received.push_back(q.packet_id);
  std::vector<const std::pair<const std::uint16_t, inflight_message>*> sent;
  for (const auto& entry : st.inflight)
    sent.push_back(&entry);
  std::sort(sent.begin(), sent.end(),
            [](const auto* a, const auto* b) { return a->second.sequence < b->second.sequence; });
  for (const auto* entry : sent) {
    const auto& m = entry->second;
    stored_delivery o{m.d, entry->first,
                      m.at == inflight_message::stage::awaiting_pubcomp
                          ? outgoing_stage::pubrel_sent
                          : outgoing_stage::sent};
    o.d.stored_id = 0;
    r.outgoing.push_back(std::move(o));
  }
  st.queue.for_each([&](const delivery& d) {
    stored_delivery o{d, 0, outgoing_stage::queued};
    o.d.stored_id = 0;
    r.outgoing.push_back(std::move(o));
  });
  return r;
}

// What the old session does while its successor subscribes: it gathers the
// deliveries that still reach it, and on moved_in leaves its shards, hands
// them over and ends.
struct leaving {
  std::vector<delivery> gathered;
  std::vector<std::uint64_t> stored_ids;  // to release from this node's storage at the end
  bool done = false;
};

void gather(session_actor* self, leaving& l, delivery d) {
  const auto& s = self->state.ctx->settings;
  if (d.stored_id != 0) l.stored_ids.push_back(std::exchange(d.stored_id, 0));
  if (l.gathered.size() >= s.max_queued_messages) {
    count_drop(self->state, counter::dropped_queue_full, d.msg->topic);
    return;
  }
  l.gathered.push_back(std::move(d));
}

void finish_leaving(session_actor* self, leaving& l) {
  auto& st = self->state;
  l.done = true;
  if (st.persisted && st.ctx->store)
    st.ctx->store->erase_session(st.params.client_id, l.stored_ids, ignore_outcome);
  metrics::sessions_delta(-1);
  self->quit();
}

caf::behavior leaving_behavior(session_actor* self, std::shared_ptr<leaving> l) {
  // What a live session still gets (its old connection's packets, timers,
  // flushes) is moot now. Not caf::drop: with it, a session that had been
  // connected stopped handling messages after the first such one (0.17.6).
  self->set_default_handler(
      [](caf::scheduled_actor*, caf::message_view&) -> caf::result<caf::message> {
        return caf::message{};
      });
  self->delayed_send(self, move_window, move_deadline{});
  return {
      [self, l](delivery& d) { gather(self, *l, std::move(d)); },
      [self, l](delivery_batch& b) {
        for (auto& d : b.deliveries)
          gather(self, *l, std::move(d));
      },
      [self](const delivery_withheld& w) { forget_delivery(self->state, w.d); },
      [self, l](moved_in) -> caf::result<move_rest> {
        auto rp = self->make_response_promise<move_rest>();
        const auto& shards = self->state.ctx->topic_shards;
        auto pending = std::make_shared<std::size_t>(shards.size());
        // Every shard answers after it dropped this session, and what it
        // sent before arrives ahead of its answer: once all have answered,
        // nothing more can come.
        auto settle = [self, l, rp, pending]() mutable {
          if (--*pending > 0 || l->done) return;
          rp.deliver(move_rest{std::move(l->gathered)});
          finish_leaving(self, *l);
        };
        if (shards.empty()) {
          rp.deliver(move_rest{std::move(l->gathered)});
          finish_leaving(self, *l);
          return rp;
        }
        for (const auto& shard : shards)
          self->request(shard, caf::infinite, drop_subscriber{self})
              .then([settle]() mutable { settle(); }, [settle](caf::error&) mutable { settle(); });
        return rp;
      },
      [self, l](move_deadline) {
        if (l->done) return;
        metrics::add(counter::cluster_session_move_failures);
        spdlog::warn(
            "client '{}': the member it moved to did not take it over within {} s; its "
            "{} late message(s) are dropped",
            self->state.params.client_id, move_window.count(), l->gathered.size());
        for (const auto& shard : self->state.ctx->topic_shards)
          caf::anon_send(shard, drop_subscriber{self});
        finish_leaving(self, *l);
      },
  };
}

// Copies a moved message into this node's storage for a persistent
// session: it was acknowledged to its publisher on the old member.
void store_here(session_actor* self, delivery& d, std::uint16_t packet_id = 0,
                outgoing_stage stage = outgoing_stage::queued) {
  auto& st = self->state;
  if (!stores_messages(st) || d.qos == mqtt::qos::at_most_once || !d.msg.ptr) return;
  durable_store::queue_target target{st.params.client_id, &d, st.incarnation};
  auto id = st.ctx->store->save_route(*d.msg, false, {target}, ignore_outcome);
  if (!id || *id == 0) {
    metrics::add(counter::refused_storage_busy);
    return;
  }
  d.stored_id = *id;
  if (stage != outgoing_stage::queued)
    accepted(st.ctx->store->save_outgoing_stage(st.params.client_id, st.incarnation, d, packet_id,
                                                stage, ignore_outcome));
}

// Takes every queued delivery out, without counting drops.
std::vector<delivery> take_queue(session_state& st) {
  std::vector<delivery> out;
  while (!st.queue.empty()) {
    delivery d = st.queue.pop_front();
    metrics::queued_delta(-1);
    st.queued_bytes -= message_bytes(d);
    if (d.qos == mqtt::qos::at_most_once) --st.queued_qos0;
    out.push_back(std::move(d));
  }
  return out;
}

// The rest from the old session joins the queue between what the record
// held and what reached this session directly, less what came both ways.
void merge_rest(session_actor* self, std::size_t restored, std::vector<delivery> rest) {
  auto& st = self->state;
  auto queued = take_queue(st);
  restored = std::min(restored, queued.size());
  std::set<message_key> direct;
  for (std::size_t i = restored; i < queued.size(); ++i)
    direct.insert(key_of(queued[i]));
  for (const auto& [id, m] : st.inflight)
    if (m.d.msg.ptr) direct.insert(key_of(m.d));
  for (std::size_t i = 0; i < restored; ++i)
    enqueue(self, std::move(queued[i]));
  for (auto& d : rest) {
    if (direct.contains(key_of(d))) continue;
    store_here(self, d);
    enqueue(self, std::move(d));
  }
  for (std::size_t i = restored; i < queued.size(); ++i)
    enqueue(self, std::move(queued[i]));
}

}  // namespace

caf::result<takeover_answer> on_move_out(session_actor* self, const move_out& m) {
  auto& st = self->state;
  if (st.phase == session_phase::ending) return takeover_answer{takeover_outcome::none, {}, {}};
  if (st.connected()) {
    // The connection on this member is taken over by one on another: as
    // for a takeover here, its will fires unless it waits for a delay,
    // which the new connection cancels (spec 3.1.3.2.2).
    metrics::add(counter::sessions_taken_over);
    say_goodbye(self, reason_code::session_taken_over);
    close_sink(self);
    tell_presence(self, false);
    if (st.params.has_will && st.params.will.delay_interval == 0) publish_will(self);
  }
  st.will_armed = false;
  ++st.timer_generation;
  if (m.clean_start) {
    end_session(self);
    return takeover_answer{takeover_outcome::discarded, {}, {}};
  }
  takeover_answer a{takeover_outcome::moved, export_record(st), self};
  auto l = std::make_shared<leaving>();
  l->stored_ids = take_stored_ids(st);
  metrics::queued_delta(-static_cast<std::int64_t>(st.queue.size()));
  st.queue.clear();
  st.inflight.clear();
  st.queued_bytes = st.inflight_bytes = st.queued_qos0 = st.held_count = 0;
  begin_ending(st);
  metrics::add(counter::cluster_sessions_moved_out);
  spdlog::info(
      "client '{}': session moved to another member with {} subscription(s) and {} "
      "message(s)",
      st.params.client_id, a.record.subscriptions.size(), a.record.outgoing.size());
  self->become(leaving_behavior(self, std::move(l)));
  return a;
}

caf::result<bool> on_move_in(session_actor* self, move_in& m) {
  auto& st = self->state;
  auto& r = m.record;
  st.params = r.params;
  st.subscriptions = std::move(r.subscriptions);
  std::sort(st.subscriptions.begin(), st.subscriptions.end(),
            [](const auto& a, const auto& b) { return a.filter < b.filter; });
  st.resumed_before = true;
  for (auto id : r.qos2_received)
    st.qos2_incoming.push_back({id, true});
  restore_outgoing(self, r.outgoing, now_ms());
  for (auto& [id, msg] : st.inflight)
    if (msg.d.msg.ptr)
      store_here(self, msg.d, id,
                 msg.at == inflight_message::stage::awaiting_pubcomp ? outgoing_stage::pubrel_sent
                                                                     : outgoing_stage::sent);
  st.queue.for_each_mut([&](delivery& d) { store_here(self, d); });
  const std::size_t restored = st.queue.size();
  st.announced_persistent = stores_messages(st);
  metrics::add(counter::cluster_sessions_moved_in);

  auto rp = self->make_response_promise<bool>();
  auto attach_now = std::make_shared<attach_connection>(std::move(m.attach));
  auto old = m.old_session;
  auto finish = [self, rp, attach_now, old, restored](std::vector<delivery> rest) mutable {
    merge_rest(self, restored, std::move(rest));
    attach(self, *attach_now);
    rp.deliver(true);
  };
  // Subscribed here first; then the old session lets go of its shards.
  auto ask_rest = [self, old, finish]() mutable {
    if (!old) return finish({});
    self->request(old, move_window, moved_in{})
        .then([finish](move_rest& rest) mutable { finish(std::move(rest.deliveries)); },
              [self, finish](caf::error& e) mutable {
                metrics::add(counter::cluster_session_move_failures);
                spdlog::warn(
                    "client '{}': the member it moved from did not hand over the "
                    "messages that reached it meanwhile: {}",
                    self->state.params.client_id, to_string(e));
                finish({});
              });
  };
  std::vector<std::pair<caf::actor, subscribe_request>> requests;
  const std::string consent_subject = consent_subject_of(st);
  for (const auto& sub : st.subscriptions)
    for (const auto& shard : shards_for_filter(*st.ctx, sub.filter))
      requests.emplace_back(
          shard,
          subscribe_request{self, st.params.client_id, sub.filter, sub.options, sub.subscription_id,
                            false, st.announced_persistent, st.incarnation, consent_subject});
  if (requests.empty()) {
    ask_rest();
    return rp;
  }
  auto pending = std::make_shared<std::size_t>(requests.size());
  auto settle = [pending, ask_rest]() mutable {
    if (--*pending == 0) ask_rest();
  };
  for (auto& [shard, req] : requests)
    self->request(shard, caf::infinite, std::move(req))
        .then([settle](retained_batch&) mutable { settle(); },
              [settle](caf::error&) mutable { settle(); });
  return rp;
}

}  // namespace convoy::session_detail
