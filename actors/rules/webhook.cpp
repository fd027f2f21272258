#include "actors/rules/webhook.hpp"

#include <algorithm>
#include <chrono>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "actors/core/inspection.hpp"
#include "actors/core/metrics.hpp"
#include "actors/rules/telemetry_payload.hpp"
#include "actors/rules/telemetry_rules.hpp"

namespace convoy {

namespace {

using send_atom = caf::atom_constant<caf::atom("hooksend")>;

void send_batch(webhook_actor* self) {
  auto& st = self->state;
  st.timer_armed = false;
  if (st.in_flight || st.queue.empty()) return;
  auto count =
      static_cast<std::uint32_t>(std::min<std::size_t>(st.queue.size(), st.spec.batch_size));
  std::string body = "[";
  for (std::uint32_t i = 0; i < count; ++i) {
    if (i > 0) body += ',';
    body += st.queue[i];
  }
  body += ']';
  st.in_flight = true;
  st.in_flight_items = count;
  auto me = caf::actor_cast<caf::actor>(self);
  st.transport->post(std::move(body), [me, count](bool ok, std::string why) {
    caf::anon_send(me, webhook_result{ok, std::move(why), count});
  });
}

void arm(webhook_actor* self, std::uint32_t ms) {
  auto& st = self->state;
  if (st.timer_armed) return;
  st.timer_armed = true;
  self->delayed_send(self, std::chrono::milliseconds(ms), send_atom::value);
}

void on_result(webhook_actor* self, const webhook_result& r) {
  auto& st = self->state;
  st.in_flight = false;
  if (r.ok) {
    // The posted items are at the head of the queue, less those an
    // overflow dropped meanwhile.
    auto n = std::min<std::size_t>(st.in_flight_items, st.queue.size());
    st.queue.erase(st.queue.begin(), st.queue.begin() + static_cast<std::ptrdiff_t>(n));
    metrics::add(counter::webhook_items_posted, n);
    if (st.failing) spdlog::info("webhook '{}': {} answers again", st.spec.name, st.spec.url);
    st.failing = false;
    st.backoff_ms = 0;
    if (st.queue.size() >= st.spec.batch_size)
      send_batch(self);
    else if (!st.queue.empty())
      arm(self, st.spec.batch_ms);
    return;
  }
  metrics::add(counter::webhook_failures);
  st.backoff_ms = st.backoff_ms == 0 ? st.spec.retry_initial_ms
                                     : std::min(st.backoff_ms * 2, st.spec.retry_max_ms);
  if (!st.failing)
    spdlog::warn("webhook '{}': POST to {} failed ({}); retrying with back-off up to {} ms",
                 st.spec.name, st.spec.url, r.why, st.spec.retry_max_ms);
  st.failing = true;
  st.timer_armed = false;  // the retry replaces a pending batch timer
  arm(self, st.backoff_ms);
}

}  // namespace

std::string webhook_item_json(const app_message& m) {
  nlohmann::json item = {{"vin", telemetry_vin(m.topic)},
                         {"topic", m.topic},
                         {"at", m.published_us != 0 ? m.published_us / 1000 : now_ms()},
                         {"qos", static_cast<int>(m.qos)}};
  std::string_view payload = m.payload ? std::string_view{*m.payload} : std::string_view{};
  const std::string* type = m.props.string(mqtt::property_id::content_type);
  auto decoded = decode_payload(payload, type ? std::string_view{*type} : std::string_view{},
                                payload_format::automatic);
  if (!decoded.value.is_discarded())
    item["data"] = std::move(decoded.value);
  else
    put_raw_payload(item, payload);
  return item.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

caf::behavior webhook(webhook_actor* self, webhook_spec spec, transport_ptr transport,
                      inflow_ptr inflow) {
  self->state.spec = std::move(spec);
  self->state.transport = std::move(transport);
  self->state.inflow = std::move(inflow);
  return {
      [self](webhook_item& item) {
        auto& st = self->state;
        st.inflow->give_back();
        if (st.queue.size() >= st.spec.max_queue) {
          // The endpoint has been down long enough to fill the queue: the
          // oldest item goes, counted. The in-flight batch's items may be
          // among them; on_result accounts for that.
          st.queue.pop_front();
          if (st.in_flight && st.in_flight_items > 0) --st.in_flight_items;
          metrics::add(counter::dropped_webhook_full);
        }
        st.queue.push_back(webhook_item_json(*item.msg));
        if (st.failing) return;  // the retry timer sends
        if (st.queue.size() >= st.spec.batch_size)
          send_batch(self);
        else
          arm(self, st.spec.batch_ms);
      },
      [self](const webhook_result& r) { on_result(self, r); },
      [self](webhook_reconfigure& r) {
        auto& st = self->state;
        st.spec = std::move(r.spec);
        // A smaller queue bound keeps the newest items, as an overflow does.
        while (st.queue.size() > st.spec.max_queue) {
          st.queue.pop_front();
          if (st.in_flight && st.in_flight_items > 0) --st.in_flight_items;
          metrics::add(counter::dropped_webhook_full);
        }
        st.backoff_ms = std::min(st.backoff_ms, st.spec.retry_max_ms);
        spdlog::info("webhook '{}': now posting to {}", st.spec.name, st.spec.url);
      },
      [self](send_atom) { send_batch(self); },
      [self](mailbox_probe) { return static_cast<std::uint64_t>(self->mailbox().size()); },
      [self](webhook_status_request) {
        return webhook_status{self->state.queue.size(), self->state.failing};
      },
  };
}

}  // namespace convoy
