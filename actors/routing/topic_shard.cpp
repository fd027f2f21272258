#include "actors/routing/topic_shard.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>
#include <caf/event_based_actor.hpp>

#include "actors/core/inspection.hpp"
#include "actors/core/metrics.hpp"
#include "actors/core/request_bounds.hpp"
#include "actors/placement/stable_hash.hpp"
#include "actors/rules/telemetry_rules.hpp"
#include "actors/vehicle/consent.hpp"
#include "protocol/topic.hpp"

namespace convoy {

namespace {

mqtt::qos lower(mqtt::qos a, mqtt::qos b) {
  return std::min(a, b);
}

bool expired(const app_message& m, epoch_ms now) {
  return m.expires_at != 0 && m.expires_at <= now;
}

using shard_actor = caf::stateful_actor<topic_shard_state>;

// An expired retained message goes from storage too; nobody waits for it,
// and a failed delete only leaves it for the next start to skip.
void forget_stored_retained(durable_store& store, const std::string& topic) {
  app_message gone;
  gone.topic = topic;
  gone.retain = true;
  store.save_retained(gone, [](bool) {});
}

void send_gathered(shard_actor* self, topic_shard_state::outgoing& out) {
  if (out.deliveries.size() == 1)
    self->send(out.session, std::move(out.deliveries.front()));
  else
    self->send(out.session, delivery_batch{std::move(out.deliveries)});
  out.deliveries = {};
}

void send_peer_batch(shard_actor* self, topic_shard_state::peer& peer) {
  self->send(peer.shard,
             peer_route_batch{caf::actor_cast<caf::actor>(self), std::move(peer.outbox)});
  peer.outbox = {};
}

void flush_outbox(shard_actor* self) {
  auto& st = self->state;
  for (auto& out : st.outbox)
    if (!out.deliveries.empty()) send_gathered(self, out);
  st.outbox.clear();
  st.outbox_slot.clear();
  for (auto& [addr, peer] : st.peers)
    if (!peer.outbox.empty()) send_peer_batch(self, peer);
}

void schedule_flush(shard_actor* self) {
  if (self->state.flush_scheduled) return;
  self->state.flush_scheduled = true;
  self->send(self, flush_atom::value);
}

// Deliveries wait until the shard has handled the messages already in its
// mailbox (the flush request queues behind them), so that a subscriber of
// many publishers, the fan-in of a fleet's telemetry, gets one message per
// run instead of one per PUBLISH. A long batch goes out at once, which
// bounds both the delay and the memory held here.
constexpr std::size_t batch_limit = 64;

void gather(shard_actor* self, caf::actor session, delivery d) {
  auto& st = self->state;
  auto [slot, fresh] =
      st.outbox_slot.try_emplace(caf::actor_cast<caf::abstract_actor*>(session), st.outbox.size());
  if (fresh) st.outbox.push_back({std::move(session), {}});
  auto& out = st.outbox[slot->second];
  out.deliveries.push_back(std::move(d));
  if (out.deliveries.size() >= batch_limit) send_gathered(self, out);
  schedule_flush(self);
}

// The VIN of a topic a consent purpose covers (vehicles/{vin}/...), or
// empty when no consent is needed for it.
std::string_view consent_vin(const topic_shard_state& st, std::string_view topic) {
  if (!st.consent_purposes || st.consent_shards.empty()) return {};
  auto vin = vehicle_vin(topic);
  if (vin.empty()) return {};
  for (const auto& p : st.consent_purposes->purposes())
    if (consent_catalog::covers_topic(p, vin, topic)) return vin;
  return {};
}

// Hands a delivery to its session, or, for a service and telemetry that
// needs consent, to the consent shard that decides.
void deliver_or_gate(shard_actor* self, caf::actor session, delivery d) {
  auto& st = self->state;
  if (!st.gated.empty()) {
    if (auto g = st.gated.find(session.address()); g != st.gated.end()) {
      if (auto vin = consent_vin(st, d.msg->topic); !vin.empty()) {
        const auto& shard = st.consent_shards[placement::slice_of(
            vin, static_cast<std::uint32_t>(st.consent_shards.size()))];
        self->send(shard, gated_delivery{g->second, std::move(session), std::move(d)});
        return;
      }
    }
  }
  gather(self, std::move(session), std::move(d));
}

// ---- peers: the same slice's shard on the other members ----

void send_to_peers(shard_actor* self, const peer_routes_update& u) {
  for (const auto& [addr, peer] : self->state.peers)
    self->send(peer.shard, u);
}

// The filters of `candidates` this node no longer holds go from the peers'
// tables.
void withdraw(shard_actor* self, std::vector<std::string> candidates) {
  auto& st = self->state;
  if (st.peers.empty()) return;
  std::erase_if(candidates, [&](const std::string& f) { return st.subscriptions.holds(f); });
  if (candidates.empty()) return;
  send_to_peers(self, peer_routes_update{
                          caf::actor_cast<caf::actor>(self), false, {}, std::move(candidates)});
}

void forget_subscriber(shard_actor* self, const caf::actor_addr& who) {
  auto& st = self->state;
  auto filters = st.subscriptions.erase_all(who);
  st.flags.erase(who);
  st.gated.erase(who);
  withdraw(self, std::move(filters));
}

topic_shard_state::peer& known_peer(shard_actor* self, const caf::actor& shard) {
  auto& st = self->state;
  auto [it, fresh] = st.peers.try_emplace(shard.address());
  if (fresh) {
    it->second.shard = shard;
    self->monitor(shard);
  }
  return it->second;
}

// A peer shard that went away (its node died, left or lost its link): what
// its node subscribed to goes, and so does what was on its way to it (the
// routes waiting for its answer fail by their timeout).
void forget_peer(shard_actor* self, const caf::actor_addr& who) {
  auto& st = self->state;
  st.peer_routes.erase_all(who);
  st.peers.erase(who);
}

// Every filter this node holds, to a peer that has just met this shard; in
// chunks, so that no message grows with the number of subscriptions.
void send_snapshot(shard_actor* self, const caf::actor& peer) {
  constexpr std::size_t chunk = 1000;
  auto filters = self->state.subscriptions.filters();
  auto me = caf::actor_cast<caf::actor>(self);
  std::size_t at = 0;
  do {
    std::size_t end = std::min(filters.size(), at + chunk);
    peer_routes_update u{me, at == 0, {}, {}};
    u.added.assign(std::make_move_iterator(filters.begin() + static_cast<std::ptrdiff_t>(at)),
                   std::make_move_iterator(filters.begin() + static_cast<std::ptrdiff_t>(end)));
    self->send(peer, std::move(u));
    at = end;
  } while (at < filters.size());
}

void take_update(shard_actor* self, peer_routes_update&& u) {
  auto& st = self->state;
  if (!u.shard) return;
  known_peer(self, u.shard);
  auto addr = u.shard.address();
  if (u.replace) st.peer_routes.erase_all(addr);
  for (const auto& f : u.removed)
    st.peer_routes.erase(f, addr);
  for (auto& f : u.added) {
    subscriber_entry e;
    e.session = u.shard;
    e.options.max_qos = mqtt::qos::exactly_once;  // the peer applies its own subscribers' QoS
    e.options.retain_as_published = true;
    st.peer_routes.insert(f, std::move(e));
  }
}

void release_window(shard_actor* self, const caf::actor_addr& peer, std::uint32_t routes,
                    std::uint64_t bytes) {
  auto it = self->state.peers.find(peer);
  if (it == self->state.peers.end()) return;
  auto& p = it->second;
  p.in_flight -= std::min(p.in_flight, routes);
  p.in_flight_bytes -= std::min(p.in_flight_bytes, bytes);
}

using wait_ptr = std::shared_ptr<topic_shard_state::subscribe_wait>;

void settle(const wait_ptr& w) {
  if (--w->pending == 0) w->promise.deliver(std::move(w->batch));
}

// Tells every peer about a filter new on this node; the subscriptions
// waiting for it are answered once they all have it (or have failed to
// answer in time).
void announce(shard_actor* self, const std::string& filter) {
  auto& st = self->state;
  auto& a = st.announcing[filter];
  a.pending += static_cast<std::uint32_t>(st.peers.size());
  auto me = caf::actor_cast<caf::actor>(self);
  auto done = [self, filter] {
    auto it = self->state.announcing.find(filter);
    if (it == self->state.announcing.end() || --it->second.pending > 0) return;
    auto waiters = std::move(it->second.waiters);
    self->state.announcing.erase(it);
    for (auto& w : waiters)
      settle(w);
  };
  for (const auto& [addr, peer] : st.peers)
    self->request(peer.shard, peer_answer_timeout, peer_filter_added{me, filter})
        .then([done](bool) { done(); },
              [done](caf::error&) {
                metrics::add(counter::cluster_peer_route_failures);
                done();
              });
}

using join_ptr = std::shared_ptr<topic_shard_state::route_join>;

void settle(const join_ptr& j) {
  if (--j->pending > 0) return;
  if (j->failure)
    j->promise.deliver(*j->failure);
  else
    j->promise.deliver(j->outcome);
}

// ---- the slice's home: where its retained messages live ----

constexpr std::size_t max_waiting_puts = 1000;

void set_retained(topic_shard_state& st, const message_ref& msg) {
  // An empty retained payload deletes the topic's retained message.
  if (!msg->payload || msg->payload->empty())
    st.retained.erase(msg->topic);
  else
    st.retained.insert_or_assign(msg->topic, msg);
}

// Keeps a retained message that arrived from another member, this shard
// being the slice's home; `join` settles once it is stored.
void keep_here(shard_actor* self, const message_ref& msg, const join_ptr& join) {
  auto& st = self->state;
  set_retained(st, msg);
  if (st.home == topic_shard_state::home_phase::receiving)
    st.written_while_receiving.insert(msg->topic);
  if (!st.store) return;
  auto token = ++st.next_store_token;
  auto me = caf::actor_cast<caf::actor>(self);
  ++join->pending;
  st.awaiting_store.emplace(token, join);
  bool submitted = st.store->save_retained(*msg, [me, token](bool ok) {
    caf::anon_send(me, route_stored{token, ok});
  });
  if (!submitted) {
    metrics::add(counter::refused_storage_busy);
    st.awaiting_store.erase(token);
    join->failure = caf::make_error(caf::sec::runtime_error, "storage busy");
    settle(join);
  }
}

// Waiting retained writes are looked at this often: sent again to the home
// when there is one (its view of the claims may have lagged behind this
// node's, or this node's behind its), refused once they waited too long.
constexpr auto waiting_put_retry = std::chrono::milliseconds(250);

void schedule_sweep(shard_actor* self) {
  auto& st = self->state;
  if (st.sweep_scheduled || st.waiting_puts.empty()) return;
  st.sweep_scheduled = true;
  self->delayed_send(self, waiting_put_retry, sweep_atom::value);
}

void forward_put(shard_actor* self, const message_ref& msg, const join_ptr& join,
                 epoch_ms since = 0);

// Holds a retained write (whose pending count it keeps) until the slice has
// a home that takes it.
void hold_put(shard_actor* self, const message_ref& msg, const join_ptr& join, epoch_ms since) {
  self->state.waiting_puts.push_back({msg, join, since});
  schedule_sweep(self);
}

// A home that refuses (not the home with that epoch: one of the two views
// of the claims lags) gets the write again later; one that does not answer
// in time fails it.
void forward_put(shard_actor* self, const message_ref& msg, const join_ptr& join, epoch_ms since) {
  auto& st = self->state;
  if (since == 0) since = now_ms();
  ++join->pending;
  self->request(st.home_shard, peer_answer_timeout, retained_put{msg, st.home_epoch})
      .then([join](const route_outcome&) { settle(join); },
            [self, msg, join, since](caf::error& e) {
              if (e != caf::sec::request_timeout) {
                hold_put(self, msg, join, since);
                return;
              }
              metrics::add(counter::cluster_peer_route_failures);
              join->failure = std::move(e);
              settle(join);
            });
}

// A retained write while the slice has no home this node can reach waits
// for one, so that it is neither lost nor kept where no one looks for it.
void wait_for_home(shard_actor* self, const message_ref& msg, const join_ptr& join) {
  auto& st = self->state;
  if (st.waiting_puts.size() >= max_waiting_puts) {
    metrics::add(counter::refused_retained_no_home);
    join->failure = caf::make_error(caf::sec::runtime_error, "no home for retained messages");
    return;
  }
  ++join->pending;
  hold_put(self, msg, join, now_ms());
}

void refuse_waiting(topic_shard_state::waiting_put& w) {
  metrics::add(counter::refused_retained_no_home);
  w.join->failure = caf::make_error(caf::sec::runtime_error, "no home for retained messages");
  settle(w.join);
}

void sweep_waiting_puts(shard_actor* self) {
  auto& st = self->state;
  st.sweep_scheduled = false;
  const epoch_ms bound =
      std::chrono::duration_cast<std::chrono::milliseconds>(peer_answer_timeout).count();
  const epoch_ms now = now_ms();
  auto waiting = std::move(st.waiting_puts);
  st.waiting_puts.clear();
  for (auto& w : waiting) {
    if (now - w.since >= bound) {
      refuse_waiting(w);
    } else if (st.home == topic_shard_state::home_phase::there) {
      forward_put(self, w.msg, w.join, w.since);
      settle(w.join);  // this wait is over; the new attempt holds its own count
    } else {
      st.waiting_puts.push_back(std::move(w));
    }
  }
  schedule_sweep(self);
}

bool is_home(const topic_shard_state& st) {
  return st.home == topic_shard_state::home_phase::here ||
         st.home == topic_shard_state::home_phase::receiving;
}

// What this shard keeps of the slice's retained messages goes, from its
// storage too: it is no longer the slice's home, or it is about to take
// the messages over from the one that was.
void forget_retained(topic_shard_state& st) {
  if (st.store)
    for (const auto& [topic, msg] : st.retained)
      forget_stored_retained(*st.store, topic);
  st.retained.clear();
}

void finish_receiving(shard_actor* self) {
  auto& st = self->state;
  st.home = topic_shard_state::home_phase::here;
  st.written_while_receiving.clear();
  auto waiting = std::move(st.after_receiving);
  st.after_receiving.clear();
  for (auto& f : waiting)
    f();
}

// Takes the slice's retained messages over from the previous home, a page
// at a time. A topic written here meanwhile keeps the newer message. A
// previous home that stops answering leaves the slice with what arrived.
void receive_page(shard_actor* self, caf::actor previous, std::uint64_t generation,
                  std::string after) {
  self->request(previous, peer_answer_timeout, retained_handover{std::move(after)})
      .then(
          [self, previous, generation](retained_page& page) {
            auto& st = self->state;
            if (st.handover_generation != generation ||
                st.home != topic_shard_state::home_phase::receiving)
              return;
            for (auto& m : page.messages) {
              if (st.written_while_receiving.contains(m->topic)) continue;
              if (st.store) st.store->save_retained(*m, [](bool) {});
              st.retained.insert_or_assign(m->topic, m);
            }
            if (page.more && !page.messages.empty())
              receive_page(self, previous, generation, page.messages.back()->topic);
            else
              finish_receiving(self);
          },
          [self, generation](caf::error& e) {
            auto& st = self->state;
            if (st.handover_generation != generation ||
                st.home != topic_shard_state::home_phase::receiving)
              return;
            metrics::add(counter::cluster_peer_route_failures);
            spdlog::warn(
                "topic shard {}: the previous home did not hand its retained messages "
                "over: {}",
                st.index, self->system().render(e));
            finish_receiving(self);
          });
}

void take_home(shard_actor* self, slice_home& h) {
  auto& st = self->state;
  st.home_epoch = h.epoch;
  ++st.handover_generation;
  if (st.home == topic_shard_state::home_phase::receiving) finish_receiving(self);
  const bool home_now = h.shard && h.shard == caf::actor_cast<caf::actor>(self);
  if (st.handed_over && !home_now) forget_retained(st);
  st.handed_over = false;
  if (!h.shard) {
    st.home = topic_shard_state::home_phase::unreachable;
    st.home_shard = nullptr;
    return;
  }
  if (home_now) {
    st.home_shard = nullptr;
    if (h.previous) {
      st.home = topic_shard_state::home_phase::receiving;
      forget_retained(st);
      receive_page(self, h.previous, st.handover_generation, {});
    } else {
      st.home = topic_shard_state::home_phase::here;
    }
  } else {
    st.home = topic_shard_state::home_phase::there;
    st.home_shard = std::move(h.shard);
  }
  auto waiting = std::move(st.waiting_puts);
  st.waiting_puts.clear();
  for (auto& w : waiting) {
    if (is_home(st))
      keep_here(self, w.msg, w.join);
    else
      forward_put(self, w.msg, w.join, w.since);
    settle(w.join);  // its wait is over
  }
}

// The peers a message published on this node goes to, once each: every peer
// whose node subscribed to a matching filter, with the shared subscriptions
// it gets. A shared subscription with a member on this node is delivered
// here; one without goes to one of the peers with members, round-robin.
struct peer_destination {
  topic_shard_state::peer* peer;
  std::vector<std::string> shared_filters;
};

std::vector<peer_destination> plan_peers(topic_shard_state& st, const message_ref& msg,
                                         const std::vector<planned_delivery>& local) {
  std::vector<peer_destination> out;
  auto slot = [&](const caf::actor& shard) -> peer_destination* {
    for (auto& d : out)
      if (d.peer->shard == shard) return &d;
    auto it = st.peers.find(shard.address());
    if (it == st.peers.end()) return nullptr;
    out.push_back({&it->second, {}});
    return &out.back();
  };
  st.peer_routes.match(
      msg->topic, [&](const subscriber_entry& e) { slot(e.session); },
      [&](const subscriber_entry& e, std::string_view filter) {
        for (const auto& p : local)
          if (p.shared_filter == filter) return;
        if (auto* d = slot(e.session)) d->shared_filters.emplace_back(filter);
      });
  return out;
}

// Sends a message published on this node to the peers that want it. QoS 0
// travels in the peer's batch of this run; QoS 1/2 as a request whose answer
// the route's own answer waits for. A peer whose window is full gets
// nothing: a counted drop at QoS 0, a refusal at QoS 1/2.
// Returns how many peers the message went to.
std::size_t route_to_peers(shard_actor* self, const message_ref& msg,
                           const std::vector<planned_delivery>& local, route_outcome& outcome,
                           const std::function<join_ptr()>& join) {
  auto& st = self->state;
  const std::uint64_t bytes = msg->size_in_bytes();
  std::size_t sent = 0;
  for (auto& [peer, shared] : plan_peers(st, msg, local)) {
    // A message larger than the byte window still goes, alone.
    if (peer->in_flight >= st.peer_window_messages ||
        (peer->in_flight > 0 && peer->in_flight_bytes + bytes > st.peer_window_bytes)) {
      if (msg->qos == mqtt::qos::at_most_once) {
        metrics::add(counter::dropped_peer_window);
      } else {
        metrics::add(counter::refused_peer_window);
        ++outcome.refused;
      }
      continue;
    }
    ++peer->in_flight;
    peer->in_flight_bytes += bytes;
    ++sent;
    metrics::add(counter::cluster_routes_sent);
    if (msg->qos == mqtt::qos::at_most_once) {
      peer->outbox.push_back({msg, std::move(shared)});
      if (peer->outbox.size() >= batch_limit) send_peer_batch(self, *peer);
      schedule_flush(self);
      continue;
    }
    auto j = join();
    ++j->pending;
    auto addr = peer->shard.address();
    self->request(peer->shard, peer_answer_timeout, peer_route{msg, std::move(shared)})
        .then(
            [self, addr, bytes, j](const route_outcome& o) {
              release_window(self, addr, 1, bytes);
              j->outcome.receivers += o.receivers;
              j->outcome.refused += o.refused;
              settle(j);
            },
            [self, addr, bytes, j](caf::error&) {
              release_window(self, addr, 1, bytes);
              metrics::add(counter::cluster_peer_route_failures);
              settle(j);
            });
  }
  return sent;
}

}  // namespace

std::vector<planned_delivery> plan_deliveries(subscription_index& index, const message_ref& msg,
                                              const std::vector<std::string>* only_shared) {
  std::vector<const subscriber_entry*> direct;
  std::vector<planned_delivery> out;
  index.match(
      msg->topic,
      [&](const subscriber_entry& e) {
        if (e.options.no_local && e.client_id == msg->publisher) return;
        direct.push_back(&e);
      },
      [&](const subscriber_entry& e, std::string_view shared_filter) {
        if (only_shared && std::find(only_shared->begin(), only_shared->end(), shared_filter) ==
                               only_shared->end())
          return;
        delivery d{msg,
                   lower(msg->qos, e.options.max_qos),
                   msg->retain && e.options.retain_as_published,
                   {}};
        if (e.subscription_id != 0) d.subscription_ids.push_back(e.subscription_id);
        out.push_back({e.session, std::move(d), &e.client_id, shared_filter});
      });
  // Group the matches of one session so it receives the message once.
  std::sort(direct.begin(), direct.end(), [](const subscriber_entry* a, const subscriber_entry* b) {
    return a->session.compare(b->session) < 0;
  });
  for (std::size_t i = 0; i < direct.size();) {
    const subscriber_entry& first = *direct[i];
    const caf::actor& session = first.session;
    delivery d{msg, mqtt::qos::at_most_once, false, {}};
    for (; i < direct.size() && direct[i]->session == session; ++i) {
      const subscriber_entry& e = *direct[i];
      d.qos = std::max(d.qos, lower(msg->qos, e.options.max_qos));
      d.retain = d.retain || (msg->retain && e.options.retain_as_published);
      if (e.subscription_id != 0) d.subscription_ids.push_back(e.subscription_id);
    }
    out.push_back({session, std::move(d), &first.client_id, {}});
  }
  return out;
}

void set_flags(shard_actor* self, const caf::actor& subscriber,
               topic_shard_state::subscriber_flags flags) {
  auto& st = self->state;
  auto addr = subscriber.address();
  if (!flags.persistent && !flags.refusing) {
    st.flags.erase(addr);
    return;
  }
  // A session with no subscription here is not monitored here either.
  if (st.subscriptions.has_subscriber(addr)) st.flags[addr] = flags;
}

// Routes a message: refuses QoS 1/2 deliveries to sessions whose queues are
// full, stores the message for the persistent sessions that get it at QoS
// 1/2 (and as the retained message of its topic), then hands the deliveries
// out, and, for a message published on this node, sends it to the peers
// whose nodes subscribed to it. The answer waits until what was stored is on
// disk, so that the publisher's PUBACK means the message survives a restart,
// and until the peers it went to at QoS 1/2 have answered; a storage over
// its bound refuses the route. The write is submitted before any session
// sees its delivery, so a session's release of the message always follows
// the message's own write. `from_peer` holds the shared subscriptions a
// peer's route names; it is null for a message published on this node.
caf::result<route_outcome> route(shard_actor* self, const message_ref& msg,
                                 const std::vector<std::string>* from_peer = nullptr) {
  auto& st = self->state;
  const app_message& m = *msg;
  // A retained message is kept by the slice's home: here, or the member
  // holding the slice (below).
  const bool retained_here = m.retain && !from_peer && is_home(st);
  if (retained_here) {
    set_retained(st, msg);
    if (st.home == topic_shard_state::home_phase::receiving)
      st.written_while_receiving.insert(m.topic);
  }
  auto plan = plan_deliveries(st.subscriptions, msg, from_peer);
  route_outcome outcome;
  // The deliveries to persistent sessions, with each session's incarnation.
  std::vector<std::pair<std::size_t, std::uint32_t>> stored;
  if (!st.flags.empty()) {
    std::size_t kept = 0;
    for (std::size_t i = 0; i < plan.size(); ++i) {
      auto& p = plan[i];
      if (p.d.qos != mqtt::qos::at_most_once) {
        auto f = st.flags.find(p.session.address());
        if (f != st.flags.end() && f->second.refusing) {
          ++outcome.refused;
          metrics::add(counter::refused_queue_full);
          caf::anon_send(p.session, delivery_refused{m.topic});
          continue;
        }
        if (f != st.flags.end() && f->second.persistent && st.store)
          stored.emplace_back(kept, f->second.incarnation);
      }
      if (kept != i) plan[kept] = std::move(p);
      ++kept;
    }
    plan.resize(kept);
  }
  outcome.receivers = static_cast<std::uint32_t>(plan.size());

  join_ptr join;
  auto joined = [&] {
    if (!join) {
      join = std::make_shared<topic_shard_state::route_join>();
      join->promise = self->make_response_promise();
    }
    return join;
  };
  bool store_retained = retained_here && st.store;
  bool busy = false;
  if (store_retained || !stored.empty()) {
    std::vector<durable_store::queue_target> targets;
    targets.reserve(stored.size());
    for (auto [i, incarnation] : stored)
      targets.push_back({*plan[i].client_id, &plan[i].d, incarnation});
    auto token = ++st.next_store_token;
    auto me = caf::actor_cast<caf::actor>(self);
    auto id = st.store->save_route(m, store_retained, targets, [me, token](bool ok) {
      caf::anon_send(me, route_stored{token, ok});
    });
    if (!id) {
      busy = true;
      metrics::add(counter::refused_storage_busy);
    } else {
      for (auto [i, incarnation] : stored)
        plan[i].d.stored_id = *id;
      auto j = joined();
      ++j->pending;
      st.awaiting_store.emplace(token, j);
    }
  }
  if (m.retain && !from_peer && !retained_here) {
    if (st.home == topic_shard_state::home_phase::there)
      forward_put(self, msg, joined());
    else
      wait_for_home(self, msg, joined());
  }
  std::size_t peers_reached = 0;
  if (!from_peer && !st.peers.empty())
    peers_reached = route_to_peers(self, msg, plan, outcome, joined);
  if (plan.empty() && outcome.refused == 0 && peers_reached == 0)
    metrics::add(counter::dropped_no_subscribers);
  for (auto& p : plan)
    deliver_or_gate(self, std::move(p.session), std::move(p.d));
  auto busy_error = [] { return caf::make_error(caf::sec::runtime_error, "storage busy"); };
  if (!join) {
    if (busy) return busy_error();
    return outcome;
  }
  join->outcome.receivers += outcome.receivers;
  join->outcome.refused += outcome.refused;
  if (busy) join->failure = busy_error();
  settle(join);
  return join->promise;
}

// A retained message a new subscription receives: in its answer, or, for a
// service that needs the vehicle's consent for it, after the check.
void add_retained(shard_actor* self, const subscribe_request& s, const message_ref& msg,
                  retained_batch& batch) {
  delivery d{msg, lower(msg->qos, s.options.max_qos), true, {}};
  if (s.subscription_id != 0) d.subscription_ids.push_back(s.subscription_id);
  if (!s.consent_subject.empty() && !consent_vin(self->state, msg->topic).empty())
    deliver_or_gate(self, s.subscriber, std::move(d));
  else
    batch.deliveries.push_back(std::move(d));
}

// A page of this slice's retained messages after the topic `after` (all
// from the first when empty), at most `limit`, those `wanted`; `more` says
// whether another wanted one follows.
template <class Wanted>
retained_page page_of_retained(const topic_shard_state& st, const std::string& after,
                               std::size_t limit, Wanted wanted) {
  retained_page page;
  auto it = after.empty() ? st.retained.begin() : st.retained.upper_bound(after);
  for (; it != st.retained.end(); ++it) {
    if (!wanted(it->first, *it->second)) continue;
    if (page.messages.size() == limit) {
      page.more = true;
      break;
    }
    page.messages.push_back(it->second);
  }
  return page;
}

// The retained messages of this slice matching a filter; expired ones go.
std::vector<message_ref> matching_retained(shard_actor* self, std::string_view filter) {
  auto& st = self->state;
  std::vector<message_ref> out;
  epoch_ms now = now_ms();
  for (auto it = st.retained.begin(); it != st.retained.end();) {
    if (expired(*it->second, now)) {
      metrics::add(counter::dropped_expired);
      if (st.store) forget_stored_retained(*st.store, it->first);
      it = st.retained.erase(it);
      continue;
    }
    if (mqtt::topic_matches(filter, it->first)) out.push_back(it->second);
    ++it;
  }
  return out;
}

// Adds a subscription. It is answered with the retained messages it must
// receive once its filter is known to every member (when new on this node)
// and the slice's home has sent them (when that is another member).
caf::result<retained_batch> subscribe(shard_actor* self, subscribe_request& s) {
  auto& st = self->state;
  const bool new_here = !st.peers.empty() && !st.subscriptions.holds(s.filter);
  if (!st.subscriptions.has_subscriber(s.subscriber.address())) self->monitor(s.subscriber);
  if (!s.consent_subject.empty()) st.gated[s.subscriber.address()] = s.consent_subject;
  retained_batch batch;
  // Shared subscriptions never receive retained messages on subscribe.
  const bool wants_retained = s.send_retained && !mqtt::parse_shared_filter(s.filter);
  if (wants_retained && st.home == topic_shard_state::home_phase::here)
    for (auto& m : matching_retained(self, s.filter))
      add_retained(self, s, m, batch);
  const bool ask_home = wants_retained && st.home == topic_shard_state::home_phase::there;
  const bool after_handover = wants_retained && st.home == topic_shard_state::home_phase::receiving;
  if (wants_retained && st.home == topic_shard_state::home_phase::unreachable)
    metrics::add(counter::dropped_retained_no_home);
  st.subscriptions.insert(s.filter, subscriber_entry{s.subscriber, std::move(s.client_id),
                                                     s.options, s.subscription_id});
  auto f = st.flags.find(s.subscriber.address());
  bool refusing = f != st.flags.end() && f->second.refusing;
  set_flags(self, s.subscriber, {s.persistent, refusing, s.incarnation});
  if (new_here) announce(self, s.filter);
  auto a = st.announcing.find(s.filter);
  if (a == st.announcing.end() && !ask_home && !after_handover) return batch;
  auto w = std::make_shared<topic_shard_state::subscribe_wait>();
  w->promise = self->make_response_promise();
  w->batch = std::move(batch);
  if (a != st.announcing.end()) {
    ++w->pending;
    a->second.waiters.push_back(w);
  }
  if (after_handover) {
    ++w->pending;
    st.after_receiving.push_back([self, w, req = std::move(s)] {
      for (auto& m : matching_retained(self, req.filter))
        add_retained(self, req, m, w->batch);
      settle(w);
    });
  } else if (ask_home) {
    ++w->pending;
    self->request(st.home_shard, peer_answer_timeout, retained_match{s.filter, st.home_epoch})
        .then(
            [self, w, req = std::move(s)](retained_matches& r) {
              for (auto& m : r.messages)
                add_retained(self, req, m, w->batch);
              settle(w);
            },
            [w](caf::error&) {
              metrics::add(counter::dropped_retained_no_home);
              settle(w);
            });
  }
  settle(w);
  return w->promise;
}

caf::behavior topic_shard(shard_actor* self, std::uint32_t index, store_ptr store) {
  self->state.index = index;
  self->state.store = std::move(store);
  self->set_down_handler([self](const caf::down_msg& down) {
    if (self->state.peers.contains(down.source))
      forget_peer(self, down.source);
    else
      forget_subscriber(self, down.source);
  });
  return {
      [self](const route_request& r) -> caf::result<route_outcome> { return route(self, r.msg); },
      [self](const peer_route& r) -> caf::result<route_outcome> {
        metrics::add(counter::cluster_routes_received);
        return route(self, r.msg, &r.shared_filters);
      },
      [self](const peer_route_batch& b) {
        std::uint64_t bytes = 0;
        metrics::add(counter::cluster_routes_received, b.routes.size());
        for (const auto& r : b.routes) {
          bytes += r.msg->size_in_bytes();
          route(self, r.msg, &r.shared_filters);
        }
        if (b.shard)
          self->send(b.shard, peer_route_ack{static_cast<std::uint32_t>(b.routes.size()), bytes});
      },
      [self](const peer_route_ack& a) {
        release_window(
            self, self->current_sender() ? self->current_sender()->address() : caf::actor_addr{},
            a.routes, a.bytes);
      },
      [self](peer_routes_update& u) { take_update(self, std::move(u)); },
      [self](peer_filter_added& a) {
        take_update(self, peer_routes_update{std::move(a.shard), false, {std::move(a.filter)}, {}});
        return true;
      },
      [self](slice_home& h) { take_home(self, h); },
      [self](leaving_home) {
        auto& st = self->state;
        bool had = is_home(st) && !st.retained.empty();
        slice_home none{"", st.home_epoch, nullptr, nullptr};
        take_home(self, none);
        return had;
      },
      [self](retained_held_request) {
        return static_cast<std::uint64_t>(self->state.retained.size());
      },
      [self](sweep_atom) { sweep_waiting_puts(self); },
      [self](retained_put& p) -> caf::result<route_outcome> {
        auto& st = self->state;
        if (!is_home(st) || p.epoch != st.home_epoch)
          return caf::make_error(caf::sec::runtime_error, "not the home of this slice");
        auto join = std::make_shared<topic_shard_state::route_join>();
        join->promise = self->make_response_promise();
        keep_here(self, p.msg, join);
        settle(join);
        return join->promise;
      },
      [self](const retained_match& r) -> caf::result<retained_matches> {
        auto& st = self->state;
        if (!is_home(st) || r.epoch != st.home_epoch)
          return caf::make_error(caf::sec::runtime_error, "not the home of this slice");
        if (st.home == topic_shard_state::home_phase::here)
          return retained_matches{matching_retained(self, r.filter)};
        auto rp = self->make_response_promise<retained_matches>();
        st.after_receiving.push_back([self, rp, filter = r.filter]() mutable {
          rp.deliver(retained_matches{matching_retained(self, filter)});
        });
        return rp;
      },
      [self](const retained_handover& h) {
        auto& st = self->state;
        constexpr std::size_t page_size = 500;
        auto page = page_of_retained(st, h.after, page_size,
                                     [](const std::string&, const app_message&) { return true; });
        // Handed over: no longer this node's to keep, once it knows.
        if (!page.more) {
          if (is_home(st))
            st.handed_over = true;
          else
            forget_retained(st);
        }
        return page;
      },
      [self](const peer_shard& p) {
        auto& st = self->state;
        st.peer_window_messages = p.window_messages;
        st.peer_window_bytes = p.window_bytes;
        if (!p.shard) return;
        known_peer(self, p.shard).node = p.node;
        send_snapshot(self, p.shard);
      },
      [self](mailbox_probe) { return static_cast<std::uint64_t>(self->mailbox().size()); },
      [self](retained_page_request& r) -> caf::result<retained_page> {
        auto& st = self->state;
        // The API of any member lists what the slice's home keeps.
        if (st.home == topic_shard_state::home_phase::there) {
          auto rp = self->make_response_promise<retained_page>();
          self->request(st.home_shard, peer_answer_timeout, std::move(r))
              .then([rp](retained_page& page) mutable { rp.deliver(std::move(page)); },
                    [rp](caf::error& e) mutable { rp.deliver(std::move(e)); });
          return rp;
        }
        epoch_ms now = now_ms();
        std::size_t limit = std::clamp<std::size_t>(r.limit, 1, 1000);
        return page_of_retained(st, r.after, limit,
                                [&](const std::string& topic, const app_message& m) {
                                  return !expired(m, now) && mqtt::topic_matches(r.filter, topic);
                                });
      },
      [self](const route_stored& s) {
        auto& st = self->state;
        auto it = st.awaiting_store.find(s.token);
        if (it == st.awaiting_store.end()) return;
        auto join = std::move(it->second);
        st.awaiting_store.erase(it);
        if (!s.stored) join->failure = caf::make_error(caf::sec::runtime_error, "storage failed");
        settle(join);
      },
      [self](restore_retained& r) {
        auto& st = self->state;
        std::string topic = r.msg->topic;
        st.retained.insert_or_assign(std::move(topic), std::move(r.msg));
      },
      [self](consent_gate_setup& g) {
        self->state.consent_purposes = std::make_unique<consent_catalog>(std::move(g.purposes));
        self->state.consent_shards = std::move(g.shards);
      },
      [self](subscribe_request& s) -> caf::result<retained_batch> { return subscribe(self, s); },
      [self](const unsubscribe_request& u) -> bool {
        auto& st = self->state;
        bool existed = st.subscriptions.erase(u.filter, u.subscriber.address());
        if (!st.subscriptions.has_subscriber(u.subscriber.address())) {
          self->demonitor(u.subscriber);
          st.flags.erase(u.subscriber.address());
          st.gated.erase(u.subscriber.address());
        }
        if (existed) withdraw(self, {u.filter});
        return existed;
      },
      [self](flush_atom) {
        self->state.flush_scheduled = false;
        flush_outbox(self);
      },
      [self](const drop_subscriber& d) {
        forget_subscriber(self, d.subscriber.address());
        self->demonitor(d.subscriber);
      },
      [self](const subscriber_state& s) {
        set_flags(self, s.subscriber, {s.persistent, s.refusing, s.incarnation});
      },
  };
}

}  // namespace convoy
