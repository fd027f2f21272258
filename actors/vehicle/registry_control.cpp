#include "actors/vehicle/registry_control.hpp"

#include <memory>
#include <vector>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "actors/core/inspection.hpp"
#include "actors/core/messages.hpp"
#include "actors/core/metrics.hpp"
#include "actors/core/refusal_log.hpp"
#include "actors/core/request_bounds.hpp"
#include "actors/vehicle/vehicle_json.hpp"

namespace convoy {

namespace {

using json = nlohmann::json;
using op = registry_command::op;

struct command_name {
  std::string_view name;
  op what;
};

constexpr command_name commands[] = {
    {"createVehicle", op::create_vehicle},   {"updateVehicle", op::update_vehicle},
    {"suspendVehicle", op::suspend_vehicle}, {"activateVehicle", op::activate_vehicle},
    {"deleteVehicle", op::delete_vehicle},   {"getVehicle", op::get_vehicle},
    {"addDevice", op::add_device},           {"replaceDevice", op::replace_device},
    {"suspendDevice", op::suspend_device},   {"activateDevice", op::activate_device},
    {"revokeDevice", op::revoke_device},
};

// The command, or the reason it is not one.
std::variant<registry_command, std::string> parse_command(const json& j) {
  if (!j.is_object()) return std::string{"a command must be a JSON object"};
  auto name = j.find("command");
  if (name == j.end() || !name->is_string()) return std::string{"missing \"command\""};
  registry_command cmd;
  bool known = false;
  for (const auto& c : commands) {
    if (c.name == name->get<std::string>()) {
      cmd.what = c.what;
      known = true;
    }
  }
  if (!known) return "unknown command \"" + name->get<std::string>() + "\"";
  auto text = [&](const char* key, std::string& out) -> std::string {
    auto it = j.find(key);
    if (it == j.end()) return {};
    if (!it->is_string()) return std::string{"\""} + key + "\" must be a string";
    out = it->get<std::string>();
    return {};
  };
  for (auto [key, field] : {std::pair{"vin", &cmd.vin},
                            {"model", &cmd.model},
                            {"region", &cmd.region},
                            {"deviceId", &cmd.device_id},
                            {"fingerprint", &cmd.fingerprint},
                            {"oldDeviceId", &cmd.old_device_id}}) {
    if (auto why = text(key, *field); !why.empty()) return why;
  }
  if (cmd.vin.empty()) return std::string{"missing \"vin\""};
  return cmd;
}

struct job {
  control_request request;
  std::vector<json> commands;
  json responses = json::array();
  std::size_t next = 0;
};

void publish_answer(caf::event_based_actor* self, const context_ptr& ctx, job& j, json body) {
  (void)self;
  auto m = std::make_shared<app_message>();
  m->topic =
      j.request.response_topic.empty() ? j.request.topic + "/response" : j.request.response_topic;
  m->payload = std::make_shared<const std::string>(body.dump());
  m->qos = mqtt::qos::at_least_once;
  m->props.add(mqtt::property_id::payload_format_indicator, 1);
  m->props.add(mqtt::property_id::content_type, std::string{"application/json"});
  if (!j.request.correlation_data.empty())
    m->props.add(mqtt::property_id::correlation_data, j.request.correlation_data);
  m->publisher = "$convoy";
  // The shard first: m is moved into the message below.
  const caf::actor& shard = ctx->shard_for_topic(m->topic);
  caf::anon_send(shard, route_request{message_ref{std::move(m)}});
}

json to_json(const refusal_record& r) {
  return {{"at", r.at},
          {"topic", r.topic},
          {"reason", r.reason},
          {"reasonCode", r.reason_code},
          {"direction", r.inbound ? "from client" : "to client"}};
}

void run_next(caf::event_based_actor* self, const context_ptr& ctx, std::shared_ptr<job> j);

// $CONTROL/convoy/clients/v1: getRefusals.
void run_client_command(caf::event_based_actor* self, const context_ptr& ctx,
                        std::shared_ptr<job> j, const json& raw, const std::string& name) {
  auto fail = [&](std::string why) {
    j->responses.push_back({{"command", name}, {"ok", false}, {"error", std::move(why)}});
    run_next(self, ctx, std::move(j));
  };
  if (!raw.is_object()) return fail("a command must be a JSON object");
  if (name != "getRefusals") return fail("unknown command \"" + name + "\"");
  auto id = raw.find("clientId");
  if (id == raw.end() || !id->is_string()) return fail("missing \"clientId\"");
  std::string client_id = id->get<std::string>();
  self->request(ctx->refusal_log, caf::infinite, refusals_query{client_id})
      .then(
          [self, ctx, j, name, client_id](refusals_answer& a) {
            json list = json::array();
            for (const auto& r : a.refusals)
              list.push_back(to_json(r));
            j->responses.push_back(
                {{"command", name}, {"ok", true}, {"clientId", client_id}, {"refusals", list}});
            run_next(self, ctx, j);
          },
          [self, ctx, j, name](caf::error& e) {
            j->responses.push_back(
                {{"command", name}, {"ok", false}, {"error", "refusal log: " + to_string(e)}});
            run_next(self, ctx, j);
          });
}

void run_next(caf::event_based_actor* self, const context_ptr& ctx, std::shared_ptr<job> j) {
  if (j->next == j->commands.size())
    return publish_answer(self, ctx, *j, json{{"responses", std::move(j->responses)}});
  const json& raw = j->commands[j->next++];
  std::string name = raw.is_object() && raw.contains("command") && raw["command"].is_string()
                         ? raw["command"].get<std::string>()
                         : std::string{};
  if (j->request.topic == clients_control_topic)
    return run_client_command(self, ctx, std::move(j), raw, name);
  if (j->request.topic == node_control_topic) {
    if (name != "getMetrics") {
      j->responses.push_back(
          {{"command", name}, {"ok", false}, {"error", "unknown command \"" + name + "\""}});
    } else {
      json counters = json::object();
      for (std::size_t i = 0; i < static_cast<std::size_t>(counter::count_); ++i) {
        auto c = static_cast<counter>(i);
        counters[std::string{name_of(c)}] = metrics::get(c);
      }
      j->responses.push_back(
          {{"command", name},
           {"ok", true},
           {"counters", std::move(counters)},
           {"gauges",
            {{"connections", metrics::connections()}, {"sessions", metrics::sessions()}}}});
    }
    return run_next(self, ctx, std::move(j));
  }
  auto parsed = parse_command(raw);
  if (auto* why = std::get_if<std::string>(&parsed)) {
    j->responses.push_back({{"command", name}, {"ok", false}, {"error", *why}});
    return run_next(self, ctx, std::move(j));
  }
  auto cmd = std::get<registry_command>(std::move(parsed));
  spdlog::info("registry: {} {} by '{}'", name, cmd.vin, j->request.client_id);
  const caf::actor& shard = ctx->registry_shards.for_key(cmd.vin);
  self->request(shard, peer_answer_timeout, std::move(cmd))
      .then(
          [self, ctx, j, name](registry_result& r) {
            json answer{{"command", name}, {"ok", r.ok}};
            if (r.ok)
              answer["vehicle"] = to_json(r.vehicle);
            else
              answer["error"] = r.error;
            j->responses.push_back(std::move(answer));
            run_next(self, ctx, j);
          },
          [self, ctx, j, name](caf::error& e) {
            j->responses.push_back(
                {{"command", name}, {"ok", false}, {"error", "registry: " + to_string(e)}});
            run_next(self, ctx, j);
          });
}

}  // namespace

caf::behavior registry_control(caf::event_based_actor* self, context_ptr ctx) {
  return {
      [self](mailbox_probe) { return static_cast<std::uint64_t>(self->mailbox().size()); },
      [self, ctx](control_request& r) {
        auto j = std::make_shared<job>();
        j->request = std::move(r);
        json body = json::parse(j->request.payload, nullptr, false);
        if (body.is_discarded() || !body.is_object() || !body.contains("commands") ||
            !body["commands"].is_array()) {
          return publish_answer(self, ctx, *j,
                                json{{"error", "expected a JSON object {\"commands\": [...]}"}});
        }
        constexpr std::size_t max_commands = 1000;
        if (body["commands"].size() > max_commands)
          return publish_answer(self, ctx, *j,
                                json{{"error", "at most 1000 commands per request"}});
        for (auto& c : body["commands"])
          j->commands.push_back(std::move(c));
        run_next(self, ctx, std::move(j));
      },
  };
}

}  // namespace convoy
