#include "actors/routing/topic_shard.hpp"

#include <algorithm>

#include <caf/event_based_actor.hpp>

#include "actors/core/inspection.hpp"
#include "actors/core/metrics.hpp"
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

void flush_outbox(shard_actor* self) {
  auto& st = self->state;
  for (auto& out : st.outbox)
    if (!out.deliveries.empty()) send_gathered(self, out);
  st.outbox.clear();
  st.outbox_slot.clear();
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
  if (st.flush_scheduled) return;
  st.flush_scheduled = true;
  self->send(self, flush_atom::value);
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

void forget_subscriber(topic_shard_state& st, const caf::actor_addr& who) {
  st.subscriptions.erase_all(who);
  st.flags.erase(who);
  st.gated.erase(who);
}

}  // namespace

std::vector<planned_delivery> plan_deliveries(subscription_index& index, const message_ref& msg) {
  std::vector<const subscriber_entry*> direct;
  std::vector<planned_delivery> out;
  index.match(
      msg->topic,
      [&](const subscriber_entry& e) {
        if (e.options.no_local && e.client_id == msg->publisher) return;
        direct.push_back(&e);
      },
      [&](const subscriber_entry& e) {
        delivery d{msg,
                   lower(msg->qos, e.options.max_qos),
                   msg->retain && e.options.retain_as_published,
                   {}};
        if (e.subscription_id != 0) d.subscription_ids.push_back(e.subscription_id);
        out.push_back({e.session, std::move(d), &e.client_id});
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
    out.push_back({session, std::move(d), &first.client_id});
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
// out. The answer waits until what was stored is on disk, so that the
// publisher's PUBACK means the message survives a restart; a storage over
// its bound refuses the route. The write is submitted before any session
// sees its delivery, so a session's release of the message always follows
// the message's own write.
caf::result<route_outcome> route(shard_actor* self, const message_ref& msg) {
  auto& st = self->state;
  const app_message& m = *msg;
  if (m.retain) {
    // An empty retained payload deletes the topic's retained message.
    if (!m.payload || m.payload->empty())
      st.retained.erase(m.topic);
    else
      st.retained.insert_or_assign(m.topic, msg);
  }
  auto plan = plan_deliveries(st.subscriptions, msg);
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
  if (plan.empty() && outcome.refused == 0) metrics::add(counter::dropped_no_subscribers);

  bool store_retained = m.retain && st.store;
  bool busy = false;
  std::optional<caf::response_promise> promise;
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
      promise = self->make_response_promise();
      st.awaiting_store.emplace(token, topic_shard_state::route_awaiting_store{*promise, outcome});
    }
  }
  for (auto& p : plan)
    deliver_or_gate(self, std::move(p.session), std::move(p.d));
  if (busy) return caf::make_error(caf::sec::runtime_error, "storage busy");
  if (promise) return *promise;
  return outcome;
}

caf::behavior topic_shard(shard_actor* self, std::uint32_t index, store_ptr store) {
  self->state.index = index;
  self->state.store = std::move(store);
  self->set_down_handler(
      [self](const caf::down_msg& down) { forget_subscriber(self->state, down.source); });
  return {
      [self](const route_request& r) -> caf::result<route_outcome> { return route(self, r.msg); },
      [self](mailbox_probe) { return static_cast<std::uint64_t>(self->mailbox().size()); },
      [self](const retained_page_request& r) {
        auto& st = self->state;
        retained_page page;
        epoch_ms now = now_ms();
        std::size_t limit = std::clamp<std::size_t>(r.limit, 1, 1000);
        auto it = r.after.empty() ? st.retained.begin() : st.retained.upper_bound(r.after);
        for (; it != st.retained.end(); ++it) {
          if (expired(*it->second, now) || !mqtt::topic_matches(r.filter, it->first)) continue;
          if (page.messages.size() == limit) {
            page.more = true;
            break;
          }
          page.messages.push_back(it->second);
        }
        return page;
      },
      [self](const route_stored& s) {
        auto& st = self->state;
        auto it = st.awaiting_store.find(s.token);
        if (it == st.awaiting_store.end()) return;
        if (s.stored)
          it->second.promise.deliver(it->second.outcome);
        else
          it->second.promise.deliver(caf::make_error(caf::sec::runtime_error, "storage failed"));
        st.awaiting_store.erase(it);
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
      [self](subscribe_request& s) -> retained_batch {
        auto& st = self->state;
        if (!st.subscriptions.has_subscriber(s.subscriber.address())) self->monitor(s.subscriber);
        const bool gated = !s.consent_subject.empty();
        if (gated) st.gated[s.subscriber.address()] = s.consent_subject;
        retained_batch batch;
        // Shared subscriptions never receive retained messages on subscribe.
        if (s.send_retained && !mqtt::parse_shared_filter(s.filter)) {
          epoch_ms now = now_ms();
          for (auto it = st.retained.begin(); it != st.retained.end();) {
            if (expired(*it->second, now)) {
              metrics::add(counter::dropped_expired);
              if (st.store) forget_stored_retained(*st.store, it->first);
              it = st.retained.erase(it);
              continue;
            }
            if (mqtt::topic_matches(s.filter, it->first)) {
              delivery d{it->second, lower(it->second->qos, s.options.max_qos), true, {}};
              if (s.subscription_id != 0) d.subscription_ids.push_back(s.subscription_id);
              if (gated && !consent_vin(st, it->first).empty())
                deliver_or_gate(self, s.subscriber, std::move(d));  // after the check, if at all
              else
                batch.deliveries.push_back(std::move(d));
            }
            ++it;
          }
        }
        caf::actor subscriber = s.subscriber;
        st.subscriptions.insert(
            s.filter, subscriber_entry{std::move(s.subscriber), std::move(s.client_id), s.options,
                                       s.subscription_id});
        auto f = st.flags.find(subscriber.address());
        bool refusing = f != st.flags.end() && f->second.refusing;
        set_flags(self, subscriber, {s.persistent, refusing, s.incarnation});
        return batch;
      },
      [self](const unsubscribe_request& u) -> bool {
        auto& st = self->state;
        bool existed = st.subscriptions.erase(u.filter, u.subscriber.address());
        if (!st.subscriptions.has_subscriber(u.subscriber.address())) {
          self->demonitor(u.subscriber);
          st.flags.erase(u.subscriber.address());
          st.gated.erase(u.subscriber.address());
        }
        return existed;
      },
      [self](flush_atom) {
        self->state.flush_scheduled = false;
        flush_outbox(self);
      },
      [self](const drop_subscriber& d) {
        forget_subscriber(self->state, d.subscriber.address());
        self->demonitor(d.subscriber);
      },
      [self](const subscriber_state& s) {
        set_flags(self, s.subscriber, {s.persistent, s.refusing, s.incarnation});
      },
  };
}

}  // namespace convoy
