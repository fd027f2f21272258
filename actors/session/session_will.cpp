#include "actors/session/session_internal.hpp"

#include <algorithm>
#include <chrono>

#include <caf/send.hpp>

#include "actors/core/metrics.hpp"

namespace convoy::session_detail {

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

// The connection is lost: the will goes now, or after its delay (capped by
// the session expiry) unless the client is back by then.
void publish_or_arm_will(session_actor* self, std::uint64_t generation) {
  auto& st = self->state;
  if (st.params.will.delay_interval == 0) return publish_will(self);
  st.will_armed = true;
  auto delay = std::min(st.params.will.delay_interval, st.params.session_expiry);
  self->delayed_send(self, std::chrono::seconds(delay), will_timer{generation});
}

void on_will_timer(session_actor* self, const will_timer& t) {
  auto& st = self->state;
  if (t.generation != st.timer_generation || !st.will_armed) return;
  publish_will(self);
  // The record loses the will, so a restart does not fire it again; the
  // client left one will delay ago.
  auto delay = std::min(st.params.will.delay_interval, st.params.session_expiry);
  persist(self, now_ms() - std::int64_t{delay} * 1000);
}

}  // namespace convoy::session_detail
