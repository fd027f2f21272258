// The management API's vehicle routes: the device registry (vehicles and
// their devices) and the vehicles' last known state and history.

#include "runtime/http/management_api.hpp"

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "actors/core/inspection.hpp"
#include "actors/core/messages.hpp"
#include "actors/vehicle/registry_shard.hpp"
#include "actors/vehicle/vehicle_json.hpp"
#include "actors/vehicle/vehicle_state.hpp"
#include "runtime/http/actor_ask.hpp"
#include "runtime/http/api_call.hpp"

namespace convoy::runtime {

namespace http = boost::beast::http;
using json = nlohmann::json;

namespace {

// The status a registry refusal maps to.
unsigned registry_status(const std::string& error) {
  if (error.find("not found") != std::string::npos) return 404;
  if (error.find("exists") != std::string::npos) return 409;
  return 400;
}

}  // namespace

void management_api::registry_call(std::shared_ptr<call> c, int op, unsigned success_status) {
  registry_command cmd;
  cmd.what = static_cast<registry_command::op>(op);
  cmd.vin = c->param("vin");
  cmd.device_id = c->param("deviceId");
  bool needs_body = cmd.what == registry_command::op::create_vehicle ||
                    cmd.what == registry_command::op::update_vehicle ||
                    cmd.what == registry_command::op::add_device ||
                    cmd.what == registry_command::op::replace_device;
  if (needs_body) {
    auto body = c->body_object();
    if (!body) return;
    for (auto [key, field] : {std::pair{"vin", &cmd.vin},
                              {"model", &cmd.model},
                              {"region", &cmd.region},
                              {"deviceId", &cmd.device_id},
                              {"fingerprint", &cmd.fingerprint}}) {
      auto it = body->find(key);
      if (it == body->end()) continue;
      if (!it->is_string()) return c->fail(400, std::string{"\""} + key + "\" must be a string");
      // The path names the vehicle and the device being replaced.
      if (std::string_view{key} == "vin" && !c->param("vin").empty()) continue;
      if (std::string_view{key} == "deviceId" && cmd.what == registry_command::op::replace_device) {
        cmd.old_device_id = c->param("deviceId");
      }
      *field = it->get<std::string>();
    }
    if (cmd.what == registry_command::op::replace_device) cmd.old_device_id = c->param("deviceId");
  }
  if (cmd.vin.empty()) return c->fail(400, "\"vin\" is required");
  if ((cmd.what == registry_command::op::add_device ||
       cmd.what == registry_command::op::replace_device) &&
      (cmd.device_id.empty() || cmd.fingerprint.empty() ||
       (cmd.what == registry_command::op::replace_device && cmd.device_id == cmd.old_device_id)))
    return c->fail(400, cmd.what == registry_command::op::replace_device
                            ? "\"deviceId\" (the new device) and \"fingerprint\" are required"
                            : "\"deviceId\" and \"fingerprint\" are required");
  spdlog::info("API: registry {} {}", op, cmd.vin);
  const caf::actor& shard = broker_->registry_shards.for_key(cmd.vin);
  ask<registry_result>(system_, shard, std::move(cmd), timeout_,
                       [c, success_status](std::optional<registry_result> r) {
                         if (!r) return c->fail(504, "the registry did not answer in time");
                         if (!r->ok) return c->fail(registry_status(r->error), r->error);
                         if (success_status == 204) return c->no_content();
                         c->reply(success_status, to_json(r->vehicle));
                       });
}

void management_api::list_vehicles(std::shared_ptr<call> c) {
  auto limit = c->limit();
  if (!limit) return;
  std::string status = c->query_value("status");
  if (!status.empty() && status != "active" && status != "suspended")
    return c->fail(400, "status must be active or suspended");
  // Each shard is asked for the page of its own vehicles; merged in VIN
  // order, the first `limit` are the page.
  const auto& shards = broker_->registry_shards;
  auto count = static_cast<std::uint32_t>(shards.size());
  std::vector<caf::actor> targets;
  for (std::uint32_t i = 0; i < count; ++i)
    targets.push_back(shards.at(i));
  // One request per shard, each with its own index: ask them one by one,
  // collecting into a shared result.
  struct merge {
    std::vector<vehicle_record> all;
    bool more = false;
    bool failed = false;
    std::uint32_t left;
    std::mutex mutex;  // answers arrive on several CAF threads at once
  };
  auto m = std::make_shared<merge>();
  m->left = count;
  auto finish = [c, m, limit = *limit] {
    if (m->failed) return c->fail(504, "a registry shard did not answer in time");
    std::sort(m->all.begin(), m->all.end(),
              [](const auto& a, const auto& b) { return a.vin < b.vin; });
    if (m->all.size() > limit) {
      m->all.resize(limit);
      m->more = true;
    }
    json data = json::array();
    for (const auto& v : m->all)
      data.push_back(to_json(v));
    json next = m->more && !m->all.empty() ? json(m->all.back().vin) : json(nullptr);
    c->reply(200, {{"data", std::move(data)}, {"next", std::move(next)}});
  };
  for (std::uint32_t i = 0; i < count; ++i) {
    vehicle_page_request req{c->query_value("after"), *limit, i, count, status,
                             c->query_value("region")};
    ask<vehicle_page>(system_, targets[i], req, timeout_,
                      [m, finish](std::optional<vehicle_page> page) {
                        bool last;
                        {
                          std::lock_guard lock{m->mutex};
                          if (!page) {
                            m->failed = true;
                          } else {
                            m->more = m->more || page->more;
                            for (auto& v : page->vehicles)
                              m->all.push_back(std::move(v));
                          }
                          last = --m->left == 0;
                        }
                        if (last) finish();
                      });
  }
}

// ---- vehicle state ----

namespace {

json field_value(const std::string& text) {
  json v = json::parse(text, nullptr, false);
  return v.is_discarded() ? json(text) : v;
}

}  // namespace

void management_api::fetch_state(std::shared_ptr<call> c,
                                 std::function<void(std::shared_ptr<call>, vehicle_state)> then) {
  if (broker_->state_shards.empty())
    return c->fail(404, "vehicle state is off on this node (state.enabled)");
  std::string vin = c->param("vin");
  const auto& shard = broker_->state_shards.for_key(vin);
  ask<vehicle_state>(system_, shard, vehicle_state_request{vin}, timeout_,
                     [c, vin, then = std::move(then)](std::optional<vehicle_state> s) mutable {
                       if (!s)
                         return c->fail(504, "the vehicle state shard did not answer in time");
                       if (s->vin.empty())
                         return c->fail(404, "no telemetry known of vehicle " + vin);
                       then(c, std::move(*s));
                     });
}

void management_api::get_state(std::shared_ptr<call> c) {
  fetch_state(c, [](std::shared_ptr<call> c, vehicle_state s) {
    json fields = json::object();
    for (const auto& f : s.fields)
      fields[f.name] = {{"value", field_value(f.value)}, {"at", f.at}};
    c->reply(200, {{"vin", s.vin}, {"updatedAt", s.updated_at}, {"fields", std::move(fields)}});
  });
}

// Newest first; ?field= picks one field, ?limit= bounds the answer.
void management_api::get_history(std::shared_ptr<call> c) {
  auto limit = c->limit();
  if (!limit) return;
  fetch_state(c, [limit = *limit](std::shared_ptr<call> c, vehicle_state s) {
    std::string field = c->query_value("field");
    json data = json::array();
    for (auto it = s.history.rbegin(); it != s.history.rend() && data.size() < limit; ++it) {
      if (!field.empty() && it->name != field) continue;
      data.push_back({{"field", it->name}, {"value", field_value(it->value)}, {"at", it->at}});
    }
    c->reply(200, {{"vin", s.vin}, {"data", std::move(data)}});
  });
}

}  // namespace convoy::runtime
