#include "actors/rules/rule_worker.hpp"

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "actors/core/inspection.hpp"
#include "actors/core/metrics.hpp"
#include "actors/rules/telemetry_rules.hpp"
#include "actors/vehicle/consent.hpp"
#include "protocol/topic.hpp"

namespace convoy {

std::string republish_topic(std::string_view pattern, std::string_view topic) {
  std::string_view vin = vehicle_vin(topic);
  if (vin.empty()) return {};
  // What follows vehicles/{vin}/.
  std::string_view rest = topic.size() > 9 + vin.size() ? topic.substr(10 + vin.size()) : "";
  std::string out{pattern};
  for (auto [placeholder, value] : {std::pair{std::string_view{"{vin}"}, vin}, {"{topic}", rest}}) {
    for (auto at = out.find(placeholder); at != std::string::npos;
         at = out.find(placeholder, at + value.size()))
      out.replace(at, placeholder.size(), value);
  }
  return mqtt::validate_topic_name(out) == mqtt::reason_code::success && !out.starts_with("$")
             ? out
             : std::string{};
}

namespace {

void publish(rule_worker_actor* self, const rule_hit& rule, const vehicle_record& vehicle) {
  auto& ctx = *self->state.ctx;
  const message_ref& msg = rule.msg;
  std::string topic = republish_topic(rule.republish_topic, msg->topic);
  if (topic.empty()) {
    metrics::add(counter::dropped_republish);
    return;
  }
  const std::string* type = msg->props.string(mqtt::property_id::content_type);
  auto decoded = decode_payload(msg->payload ? std::string_view{*msg->payload} : std::string_view{},
                                type ? std::string_view{*type} : std::string_view{},
                                static_cast<payload_format>(rule.format));
  nlohmann::json body = {
      {"vin", vehicle.vin},
      {"model", vehicle.model},
      {"region", vehicle.region},
      {"topic", msg->topic},
      {"at", msg->published_us != 0 ? msg->published_us / 1000 : now_ms()},
      {"rule", rule.rule},
  };
  if (!decoded.value.is_discarded())
    body["data"] = std::move(decoded.value);
  else
    body["raw"] = *msg->payload;  // not JSON: as it came (replaced where not UTF-8)
  auto m = std::make_shared<app_message>();
  m->topic = std::move(topic);
  m->payload = std::make_shared<const std::string>(
      body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  m->qos = std::min(msg->qos, mqtt::qos::at_least_once);
  m->props.add(mqtt::property_id::content_type, std::string{"application/json"});
  m->publisher = "$rules";
  m->published_us = now_us();
  metrics::add(counter::rules_republished);
  const caf::actor& shard = ctx.shard_for_topic(m->topic);
  caf::anon_send(shard, route_request{message_ref{std::move(m)}});
}

void take(rule_worker_actor* self, rule_hit& hit) {
  auto& ctx = *self->state.ctx;
  std::string vin{telemetry_vin(hit.msg->topic)};
  if (vin.empty()) {
    metrics::add(counter::dropped_republish);
    return;
  }
  registry_command get;
  get.what = registry_command::op::get_vehicle;
  get.vin = vin;
  self->request(ctx.registry_shards.for_key(vin), std::chrono::seconds(5), std::move(get))
      .then(
          [self, hit, vin](registry_result& r) {
            auto& ctx = *self->state.ctx;
            if (!r.ok || r.vehicle.status != vehicle_status::active) {
              // High-priority routing goes only for vehicles the registry
              // knows and lets in.
              metrics::add(counter::dropped_unregistered);
              return;
            }
            if (hit.subject.empty()) return publish(self, hit, r.vehicle);
            consent_check check{vin, hit.subject, hit.msg->topic, ""};
            self->request(ctx.consent_shards.for_key(vin), std::chrono::seconds(5),
                          std::move(check))
                .then(
                    [self, hit, vehicle = std::move(r.vehicle)](consent_verdict& v) {
                      if (!v.allowed) {
                        metrics::add(counter::dropped_no_consent);
                        return;
                      }
                      publish(self, hit, vehicle);
                    },
                    [](caf::error&) { metrics::add(counter::dropped_republish); });
          },
          [](caf::error&) { metrics::add(counter::dropped_republish); });
}

}  // namespace

caf::behavior rule_worker(rule_worker_actor* self, std::uint32_t, context_ptr ctx,
                          inflow_ptr inflow) {
  self->state.ctx = std::move(ctx);
  self->state.inflow = std::move(inflow);
  return {
      [self](rule_hit& hit) {
        self->state.inflow->give_back();
        take(self, hit);
      },
      [self](mailbox_probe) { return static_cast<std::uint64_t>(self->mailbox().size()); },
  };
}

}  // namespace convoy
