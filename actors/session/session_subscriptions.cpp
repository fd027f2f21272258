#include "actors/session/session_internal.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>
#include <caf/send.hpp>

#include "actors/core/metrics.hpp"
#include "actors/session/publish_checks.hpp"
#include "protocol/topic.hpp"

namespace convoy::session_detail {

namespace {

// Where `filter` is, or would be inserted, in the sorted subscriptions.
std::vector<subscription_record>::iterator find_subscription(session_state& st,
                                                             std::string_view filter) {
  return std::lower_bound(
      st.subscriptions.begin(), st.subscriptions.end(), filter,
      [](const subscription_record& e, std::string_view f) { return e.filter < f; });
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

}  // namespace

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

void on_subscribe(session_actor* self, mqtt::subscribe_packet& p) {
  auto& st = self->state;
  const auto& s = st.ctx->settings;
  metrics::add(counter::packets_received);
  if (!st.connected()) return;
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
    if (s.max_topic_levels > 0 && publish_checks::topic_levels(e.filter) > s.max_topic_levels) {
      count_refused_subscription(st, counter::refused_topic_levels, e.filter);
      job->reasons[i] =
          is_v5(st) ? reason_code::topic_filter_invalid : reason_code::unspecified_error;
      continue;
    }
    if (!may_subscribe(access, e.filter)) {
      count_refused_subscription(st, counter::refused_subscribe_not_authorized, e.filter);
      job->reasons[i] = is_v5(st) ? reason_code::not_authorized : reason_code::unspecified_error;
      continue;
    }
    e.options.max_qos = std::min(e.options.max_qos, static_cast<mqtt::qos>(s.maximum_qos));
    job->reasons[i] = static_cast<reason_code>(e.options.max_qos);
    auto slot = find_subscription(st, e.filter);
    bool existed = slot != st.subscriptions.end() && slot->filter == e.filter;
    if (!existed && s.max_subscriptions_per_client > 0 &&
        st.subscriptions.size() >= s.max_subscriptions_per_client) {
      count_refused_subscription(st, counter::refused_subscription_quota, e.filter);
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
  if (!st.connected()) return;
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

}  // namespace convoy::session_detail
