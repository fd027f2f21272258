// The management API: its routes, who may call them, and the probes,
// metrics and node routes. The other routes are in management_api_*.cpp,
// one file per area.

#include "runtime/http/management_api.hpp"

#include <algorithm>
#include <map>
#include <optional>

#include <spdlog/spdlog.h>
#include <caf/send.hpp>
#include <nlohmann/json.hpp>

#include "actors/core/inspection.hpp"
#include "actors/core/messages.hpp"
#include "actors/core/metrics.hpp"
#include "actors/rules/archive_writer.hpp"
#include "actors/rules/webhook.hpp"
#include "cluster/cluster_view.hpp"
#include "runtime/http/actor_ask.hpp"
#include "runtime/http/api_call.hpp"
#include "runtime/http/prometheus_text.hpp"
#include "runtime/rules/rule_book.hpp"

namespace convoy::runtime {

namespace http = boost::beast::http;
using json = nlohmann::json;

namespace {

// Percent-decoding; '+' is a space in queries only (a client id may hold one).
std::string url_decode(std::string_view s, bool& ok, bool plus_is_space = true) {
  std::string out;
  ok = true;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[i + 1])) ||
          !std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
        ok = false;
        return out;
      }
      out += static_cast<char>(std::stoi(std::string{s.substr(i + 1, 2)}, nullptr, 16));
      i += 2;
    } else if (s[i] == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

metrics_readings::cluster_reading cluster_reading_of(const cluster::cluster_status& s) {
  metrics_readings::cluster_reading r;
  r.phase = s.view.phase;
  r.authority = s.view.authority;
  r.incarnation = s.view.incarnation;
  for (std::size_t i = 0; i < s.view.members.size(); ++i)
    r.members.push_back({s.view.members[i].node, s.view.members[i].incarnation,
                         i < s.links.size() ? s.links[i].state : std::string{"unknown"}});
  return r;
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  std::size_t start = 1;
  while (start <= path.size()) {
    std::size_t slash = std::min(path.find('/', start), path.size());
    parts.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return parts;
}

}  // namespace

// ---- one request ----

// ---- routing ----

struct management_api::route {
  http::verb method;
  std::string_view pattern;
  void (management_api::*handler)(std::shared_ptr<call>);
  enum class access : std::uint8_t { open, probe, operator_only } who;
};

const std::vector<management_api::route>& management_api::routes() {
  using a = route::access;
  using v = http::verb;
  using reg = registry_command::op;
  static const std::vector<route> table = {
      {v::get, "/healthz", &management_api::healthz, a::probe},
      {v::get, "/readyz", &management_api::readyz, a::probe},
      {v::get, "/metrics", &management_api::prometheus, a::probe},
      {v::get, "/api/v1/openapi.json", &management_api::openapi, a::open},
      {v::get, "/api/v1/node", &management_api::node_status, a::operator_only},
      {v::get, "/api/v1/stats", &management_api::stats, a::operator_only},
      {v::get, "/api/v1/cluster", &management_api::cluster_status, a::operator_only},
      {v::get, "/api/v1/clients", &management_api::list_clients, a::operator_only},
      {v::get, "/api/v1/clients/{clientId}", &management_api::get_client, a::operator_only},
      {v::delete_, "/api/v1/clients/{clientId}", &management_api::kick_client, a::operator_only},
      {v::get, "/api/v1/sessions", &management_api::list_sessions, a::operator_only},
      {v::get, "/api/v1/sessions/{clientId}", &management_api::get_session, a::operator_only},
      {v::delete_, "/api/v1/sessions/{clientId}", &management_api::discard_session,
       a::operator_only},
      {v::get, "/api/v1/sessions/{clientId}/subscriptions", &management_api::get_subscriptions,
       a::operator_only},
      {v::post, "/api/v1/publish", &management_api::publish, a::operator_only},
      {v::get, "/api/v1/retained", &management_api::list_retained, a::operator_only},
      {v::get, "/api/v1/retained/{topic...}", &management_api::get_retained, a::operator_only},
      {v::delete_, "/api/v1/retained/{topic...}", &management_api::delete_retained,
       a::operator_only},
      {v::get, "/api/v1/vehicles", &management_api::list_vehicles, a::operator_only},
      {v::post, "/api/v1/vehicles", &management_api::registry_route<reg::create_vehicle, 201>,
       a::operator_only},
      {v::get, "/api/v1/vehicles/{vin}", &management_api::registry_route<reg::get_vehicle, 200>,
       a::operator_only},
      {v::get, "/api/v1/vehicles/{vin}/state", &management_api::get_state, a::operator_only},
      {v::get, "/api/v1/vehicles/{vin}/history", &management_api::get_history, a::operator_only},
      {v::get, "/api/v1/consent-purposes", &management_api::consent_purposes, a::operator_only},
      {v::post, "/api/v1/vehicles/{vin}/consents", &management_api::grant_consent,
       a::operator_only},
      {v::get, "/api/v1/vehicles/{vin}/consents", &management_api::list_consents, a::operator_only},
      {v::get, "/api/v1/vehicles/{vin}/consents/check", &management_api::check_consent,
       a::operator_only},
      {v::delete_, "/api/v1/vehicles/{vin}/consents/{subject}/{purpose}",
       &management_api::revoke_consent, a::operator_only},
      {v::get, "/api/v1/rules", &management_api::list_rules, a::operator_only},
      {v::post, "/api/v1/rules/test", &management_api::test_rules, a::operator_only},
      {v::get, "/api/v1/rules/{name}", &management_api::get_rule, a::operator_only},
      {v::put, "/api/v1/rules/{name}", &management_api::put_rule, a::operator_only},
      {v::delete_, "/api/v1/rules/{name}", &management_api::delete_rule, a::operator_only},
      {v::get, "/api/v1/archives", &management_api::list_sinks<archive_spec>, a::operator_only},
      {v::get, "/api/v1/archives/{name}", &management_api::get_sink<archive_spec>,
       a::operator_only},
      {v::put, "/api/v1/archives/{name}", &management_api::put_sink<archive_spec>,
       a::operator_only},
      {v::delete_, "/api/v1/archives/{name}", &management_api::delete_sink<archive_spec>,
       a::operator_only},
      {v::get, "/api/v1/webhooks", &management_api::list_sinks<webhook_spec>, a::operator_only},
      {v::get, "/api/v1/webhooks/{name}", &management_api::get_sink<webhook_spec>,
       a::operator_only},
      {v::put, "/api/v1/webhooks/{name}", &management_api::put_sink<webhook_spec>,
       a::operator_only},
      {v::delete_, "/api/v1/webhooks/{name}", &management_api::delete_sink<webhook_spec>,
       a::operator_only},
      {v::post, "/api/v1/vehicles/{vin}/commands", &management_api::submit_command,
       a::operator_only},
      {v::get, "/api/v1/vehicles/{vin}/commands", &management_api::list_commands, a::operator_only},
      {v::get, "/api/v1/vehicles/{vin}/commands/{commandId}", &management_api::get_command,
       a::operator_only},
      {v::get, "/api/v1/vehicles/{vin}/commands/{commandId}/events",
       &management_api::command_events, a::operator_only},
      {v::post, "/api/v1/vehicles/{vin}/commands/{commandId}/cancel",
       &management_api::cancel_command, a::operator_only},
      {v::patch, "/api/v1/vehicles/{vin}",
       &management_api::registry_route<reg::update_vehicle, 200>, a::operator_only},
      {v::delete_, "/api/v1/vehicles/{vin}",
       &management_api::registry_route<reg::delete_vehicle, 204>, a::operator_only},
      {v::post, "/api/v1/vehicles/{vin}/suspend",
       &management_api::registry_route<reg::suspend_vehicle, 200>, a::operator_only},
      {v::post, "/api/v1/vehicles/{vin}/activate",
       &management_api::registry_route<reg::activate_vehicle, 200>, a::operator_only},
      {v::post, "/api/v1/vehicles/{vin}/devices",
       &management_api::registry_route<reg::add_device, 201>, a::operator_only},
      {v::post, "/api/v1/vehicles/{vin}/devices/{deviceId}/replace",
       &management_api::registry_route<reg::replace_device, 200>, a::operator_only},
      {v::post, "/api/v1/vehicles/{vin}/devices/{deviceId}/suspend",
       &management_api::registry_route<reg::suspend_device, 200>, a::operator_only},
      {v::post, "/api/v1/vehicles/{vin}/devices/{deviceId}/activate",
       &management_api::registry_route<reg::activate_device, 200>, a::operator_only},
      {v::post, "/api/v1/vehicles/{vin}/devices/{deviceId}/revoke",
       &management_api::registry_route<reg::revoke_device, 200>, a::operator_only},
  };
  return table;
}

std::vector<std::string> management_api::route_names() {
  std::vector<std::string> names;
  for (const auto& r : routes()) {
    auto verb = http::to_string(r.method);
    // OpenAPI writes a rest-of-path parameter as a plain one.
    std::string pattern{r.pattern};
    if (auto rest = pattern.find("...}"); rest != std::string::npos) pattern.erase(rest, 3);
    names.push_back(std::string{verb.data(), verb.size()} + " " + pattern);
  }
  return names;
}

management_api::management_api(caf::actor_system& system, context_ptr broker,
                               caf::actor session_registry, const config::node_config& cfg,
                               node_facts facts, std::shared_ptr<rule_book> rules)
    : system_(system),
      broker_(std::move(broker)),
      session_registry_(std::move(session_registry)),
      settings_(cfg.http),
      commands_(cfg.commands),
      facts_(std::move(facts)),
      timeout_(cfg.http.request_timeout_ms) {
  if (!settings_.api_keys_file.empty()) keys_ = std::make_unique<api_keys>(settings_.api_keys_file);
  if (cfg.jwt.enabled) jwt_ = std::make_unique<jwt_verifier>(cfg.jwt);
  rules_ = std::move(rules);
}

management_api::~management_api() = default;

std::pair<unsigned, std::string> management_api::authorize(const http_request& request,
                                                           std::string& who) {
  who = "anonymous";
  if (!keys_ && !jwt_) return {};  // loopback only (config check)
  std::string_view key;
  if (auto it = request.find("X-API-Key"); it != request.end())
    key = std::string_view{it->value().data(), it->value().size()};
  auto auth = request[http::field::authorization];
  std::string_view authorization{auth.data(), auth.size()};
  std::string_view bearer;
  if (authorization.substr(0, 7) == "Bearer ") bearer = authorization.substr(7);
  if (key.empty() && bearer.empty())
    return {401, "credentials required: an API key (X-API-Key) or a bearer token"};
  if (bearer.size() > 0 && jwt_ && jwt_verifier::looks_like_jwt(bearer)) {
    auto now = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
    auto r = jwt_->verify(bearer, now);
    if (!r.ok) return {401, "bearer token refused: " + r.error};
    const auto& roles = r.ok->roles;
    if (std::find(roles.begin(), roles.end(), settings_.operator_role) == roles.end())
      return {403, "the token's identity '" + r.ok->identity + "' does not have the role '" +
                       settings_.operator_role + "'"};
    who = "token:" + r.ok->identity;
    return {};
  }
  if (key.empty()) key = bearer;
  if (keys_) {
    if (auto name = keys_->check(key)) {
      who = "key:" + *name;
      return {};
    }
  }
  return {401, "unknown API key"};
}

void management_api::handle(http_request&& request, const http_peer& peer, http_responder respond) {
  auto c = std::make_shared<call>(call{std::move(request), std::move(respond), {}, {}, {}});
  std::string_view target{c->request.target().data(), c->request.target().size()};
  std::string_view path = target.substr(0, target.find('?'));
  if (auto q = target.find('?'); q != std::string_view::npos) {
    std::string_view rest = target.substr(q + 1);
    while (!rest.empty()) {
      auto amp = rest.find('&');
      auto pair = rest.substr(0, amp);
      auto eq = pair.find('=');
      bool ok_key = true, ok_value = true;
      std::string key = url_decode(pair.substr(0, eq), ok_key);
      std::string value =
          eq == std::string_view::npos ? std::string{} : url_decode(pair.substr(eq + 1), ok_value);
      if (!ok_key || !ok_value) return c->fail(400, "malformed percent-encoding in the query");
      c->query[key] = value;
      rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
    }
  }
  auto parts = split_path(path);
  const route* found = nullptr;
  std::vector<std::string> allowed;
  for (const auto& r : routes()) {
    auto pattern = split_path(r.pattern);
    // {name...} last takes the rest of the path, one or more segments, each
    // percent-decoded and joined by '/' (a topic, slashes and empty levels
    // included).
    if (pattern.back().ends_with("...}")) {
      if (parts.size() < pattern.size()) continue;
    } else if (pattern.size() != parts.size()) {
      continue;
    }
    std::map<std::string, std::string> params;
    bool match = true;
    for (std::size_t i = 0; i < pattern.size() && match; ++i) {
      if (pattern[i].ends_with("...}")) {
        std::string value;
        for (std::size_t j = i; j < parts.size() && match; ++j) {
          bool ok = true;
          value += (j == i ? "" : "/") + url_decode(parts[j], ok, false);
          match = ok;
        }
        if (value.empty()) match = false;
        params[std::string{pattern[i].substr(1, pattern[i].size() - 5)}] = std::move(value);
      } else if (pattern[i].front() == '{') {
        bool ok = true;
        std::string value = url_decode(parts[i], ok, false);
        if (!ok || value.empty()) match = false;
        params[std::string{pattern[i].substr(1, pattern[i].size() - 2)}] = std::move(value);
      } else if (pattern[i] != parts[i]) {
        match = false;
      }
    }
    if (!match) continue;
    if (r.method != c->request.method()) {
      auto verb = http::to_string(r.method);
      allowed.emplace_back(verb.data(), verb.size());
      continue;
    }
    found = &r;
    c->params = std::move(params);
    break;
  }
  if (!found && !allowed.empty()) {
    std::string list;
    for (const auto& a : allowed)
      list += (list.empty() ? "" : ", ") + a;
    auto r =
        http_server::json_error(405, "use " + list, c->request.version(), c->request.keep_alive());
    r.set(http::field::allow, list);
    return c->respond(std::move(r));
  }
  if (!found) return c->fail(404, "no such route: " + std::string{path});
  if (found->who == route::access::operator_only ||
      (found->who == route::access::probe && settings_.metrics_require_auth)) {
    auto [status, why] = authorize(c->request, c->who);
    if (status != 0) {
      metrics::add(counter::refused_api_unauthorized);
      spdlog::info("API: {} {} from {} refused: {}",
                   std::string{http::to_string(c->request.method())}, std::string{path},
                   peer.address, why);
      auto r = http_server::json_error(status, why, c->request.version(), c->request.keep_alive());
      if (status == 401) r.set(http::field::www_authenticate, "Bearer realm=\"convoy\"");
      return c->respond(std::move(r));
    }
  }
  (this->*(found->handler))(std::move(c));
}

// ---- probes and metrics ----

void management_api::healthz(std::shared_ptr<call> c) {
  c->reply(200, {{"status", "ok"}});
}

void management_api::readyz(std::shared_ptr<call> c) {
  if (facts_.accepting && !facts_.accepting())
    return c->reply(503, {{"status", "not ready"}, {"message", "the listeners are not open"}});
  if (facts_.cluster_agent) {
    // A node that may not act as a member takes no clients a load balancer
    // could send elsewhere.
    return ask<cluster::cluster_status>(
        system_, facts_.cluster_agent, cluster::cluster_status_request{},
        std::chrono::milliseconds(1000), [this, c](std::optional<cluster::cluster_status> s) {
          if (!s)
            return c->reply(503, {{"status", "not ready"},
                                  {"message", "the cluster agent did not answer within a second"}});
          if (!s->view.authority)
            return c->reply(
                503, {{"status", "not ready"},
                      {"message", "not acting as a member of cluster '" + s->view.cluster + "' (" +
                                      (s->view.phase.empty() ? "joining" : s->view.phase) + ")"}});
          probe_core_actors(c);
        });
  }
  probe_core_actors(c);
}

void management_api::probe_core_actors(std::shared_ptr<call> c) {
  std::vector<caf::actor> probed{session_registry_};
  probed.insert(probed.end(), broker_->topic_shards.begin(), broker_->topic_shards.end());
  ask_all<std::uint64_t>(
      system_, probed, mailbox_probe{}, std::chrono::milliseconds(1000),
      [c](std::vector<std::optional<std::uint64_t>> answers) {
        std::size_t silent = std::count(answers.begin(), answers.end(), std::nullopt);
        if (silent > 0)
          return c->reply(503, {{"status", "not ready"},
                                {"message", std::to_string(silent) + " core actors did not answer "
                                                                     "within a second"}});
        c->reply(200, {{"status", "ready"}});
      });
}

void management_api::prometheus(std::shared_ptr<call> c) {
  struct probed {
    std::string kind;
    std::uint32_t index;
  };
  std::vector<caf::actor> targets;
  auto who = std::make_shared<std::vector<probed>>();
  auto add = [&](const caf::actor& a, const char* kind, std::uint32_t index) {
    if (!a) return;
    targets.push_back(a);
    who->push_back({kind, index});
  };
  add(session_registry_, "session_registry", 0);
  for (std::uint32_t i = 0; i < broker_->topic_shards.size(); ++i)
    add(broker_->topic_shards.at(i), "topic_shard", i);
  for (std::uint32_t i = 0; i < broker_->registry_shards.size(); ++i)
    add(broker_->registry_shards.at(i), "registry_shard", i);
  add(broker_->registry_control, "registry_control", 0);
  add(broker_->refusal_log, "refusal_log", 0);
  add(broker_->storage_gate, "storage_gate", 0);
  metrics_readings base;
  base.topic_shards = broker_->topic_shards.size();
  base.registry_shards = broker_->registry_shards.size();
  base.node = facts_.name;
  base.version = facts_.version;
  base.uptime_seconds = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::steady_clock::now() - facts_.started)
                            .count();
  base.actors_running = system_.registry().running();
  std::vector<std::pair<std::string, caf::actor>> hooks;
  if (rules_) hooks = rules_->webhook_actors();
  caf::actor agent = facts_.cluster_agent;
  // The mailboxes, then the webhooks; the system outlives every answer.
  ask_all<std::uint64_t>(
      system_, targets, mailbox_probe{}, std::chrono::milliseconds(1000),
      [c, who, base, hooks, agent,
       &system = system_](std::vector<std::optional<std::uint64_t>> answers) mutable {
        for (std::size_t i = 0; i < answers.size(); ++i)
          if (answers[i]) base.mailboxes.push_back({(*who)[i].kind, (*who)[i].index, *answers[i]});
        std::vector<caf::actor> actors;
        for (const auto& [name, actor] : hooks)
          actors.push_back(actor);
        ask_all<webhook_status>(
            system, actors, webhook_status_request{}, std::chrono::milliseconds(1000),
            [c, base, hooks, &system,
             agent](std::vector<std::optional<webhook_status>> states) mutable {
              for (std::size_t i = 0; i < states.size(); ++i)
                if (states[i])
                  base.webhooks.push_back({hooks[i].first, states[i]->queued, states[i]->failing});
              auto render = [c](metrics_readings& readings) {
                readings.resident_bytes = resident_memory_bytes();
                http_response r{http::status::ok, c->request.version()};
                r.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
                r.body() = render_prometheus(readings);
                c->respond(std::move(r));
              };
              if (!agent) return render(base);
              ask<cluster::cluster_status>(
                  system, agent, cluster::cluster_status_request{}, std::chrono::milliseconds(1000),
                  [base, render](std::optional<cluster::cluster_status> s) mutable {
                    if (s) base.cluster = cluster_reading_of(*s);
                    render(base);
                  });
            });
      });
}

void management_api::openapi(std::shared_ptr<call> c) {
  http_response r{http::status::ok, c->request.version()};
  r.set(http::field::content_type, "application/json");
  r.body() = std::string{openapi_document()};
  c->respond(std::move(r));
}

// ---- node ----

void management_api::node_status(std::shared_ptr<call> c) {
  json listeners = json::array();
  if (facts_.listeners)
    for (const auto& [name, port] : facts_.listeners())
      listeners.push_back({{"protocol", name}, {"port", port}});
  c->reply(200, {{"name", facts_.name},
                 {"version", facts_.version},
                 {"startedAt", facts_.started_at_ms},
                 {"uptimeSeconds", std::chrono::duration_cast<std::chrono::seconds>(
                                       std::chrono::steady_clock::now() - facts_.started)
                                       .count()},
                 {"listeners", std::move(listeners)},
                 {"connections", metrics::connections()},
                 {"sessions", metrics::sessions()},
                 {"topicShards", broker_->topic_shards.size()},
                 {"registryShards", broker_->registry_shards.size()},
                 {"storage", broker_->store != nullptr},
                 {"residentMemoryBytes", resident_memory_bytes()}});
}

void management_api::stats(std::shared_ptr<call> c) {
  json counters = json::object();
  for (std::size_t i = 0; i < static_cast<std::size_t>(counter::count_); ++i) {
    auto k = static_cast<counter>(i);
    counters[std::string{name_of(k)}] = metrics::get(k);
  }
  auto histogram = [](const latency_histogram& h) {
    auto s = h.read();
    return json{{"count", s.count()}, {"sumSeconds", static_cast<double>(s.sum_us) / 1e6}};
  };
  c->reply(200, {{"counters", std::move(counters)},
                 {"gauges",
                  {{"connections", metrics::connections()},
                   {"sessions", metrics::sessions()},
                   {"queuedMessages", metrics::queued()}}},
                 {"latency",
                  {{"publishToDeliver", histogram(metrics::publish_to_deliver)},
                   {"storageCommit", histogram(metrics::storage_commit)}}}});
}

}  // namespace convoy::runtime
