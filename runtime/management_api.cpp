#include "runtime/management_api.hpp"

#include <algorithm>
#include <map>
#include <mutex>
#include <optional>

#include <spdlog/spdlog.h>
#include <caf/send.hpp>
#include <nlohmann/json.hpp>

#include "actors/consent.hpp"
#include "actors/consent_catalog.hpp"
#include "actors/inspection.hpp"
#include "actors/messages.hpp"
#include "actors/metrics.hpp"
#include "actors/vehicle_json.hpp"
#include "actors/vehicle_state.hpp"
#include "protocol/base64.hpp"
#include "protocol/topic.hpp"
#include "protocol/utf8.hpp"
#include "runtime/actor_ask.hpp"
#include "runtime/api_call.hpp"
#include "runtime/prometheus_text.hpp"

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

json to_json(const session_summary& s) {
  json j{{"clientId", s.client_id},
         {"connected", s.connected},
         {"identity", s.identity},
         {"authMethod", s.auth_method},
         {"protocolVersion", s.protocol_version == 5 ? "5.0" : "3.1.1"},
         {"keepAlive", s.keep_alive},
         {"sessionExpiryInterval", s.session_expiry},
         {"subscriptionCount", s.subscription_count},
         {"inflight", s.inflight},
         {"queued", s.queued},
         {"queuedBytes", s.queued_bytes}};
  if (!s.role.empty()) j["role"] = s.role;
  if (s.connected) {
    j["peer"] = s.peer;
    j["transport"] = s.transport;
  }
  return j;
}

json to_json(const subscription_record& r) {
  json j{{"filter", r.filter},
         {"qos", static_cast<int>(r.options.max_qos)},
         {"noLocal", r.options.no_local},
         {"retainAsPublished", r.options.retain_as_published},
         {"retainHandling", static_cast<int>(r.options.retain_handling)}};
  if (r.subscription_id != 0) j["subscriptionId"] = r.subscription_id;
  return j;
}

json payload_json(const std::string& payload) {
  if (mqtt::is_valid_utf8(payload)) return {{"payload", payload}, {"payloadEncoding", "utf8"}};
  return {{"payload", base64_encode(payload)}, {"payloadEncoding", "base64"}};
}

json to_json(const app_message& m) {
  json j{{"topic", m.topic}, {"qos", static_cast<int>(m.qos)}};
  j.update(payload_json(m.payload ? *m.payload : std::string{}));
  if (m.expires_at != 0) j["expiresAt"] = m.expires_at;
  if (const auto* ct = m.props.string(mqtt::property_id::content_type)) j["contentType"] = *ct;
  return j;
}

// The status a registry refusal maps to.
unsigned registry_status(const std::string& error) {
  if (error.find("not found") != std::string::npos) return 404;
  if (error.find("exists") != std::string::npos) return 409;
  return 400;
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
      {v::get, "/api/v1/retained/{topic}", &management_api::get_retained, a::operator_only},
      {v::delete_, "/api/v1/retained/{topic}", &management_api::delete_retained, a::operator_only},
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
    names.push_back(std::string{verb.data(), verb.size()} + " " + std::string{r.pattern});
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
    if (pattern.size() != parts.size()) continue;
    std::map<std::string, std::string> params;
    bool match = true;
    for (std::size_t i = 0; i < parts.size() && match; ++i) {
      if (pattern[i].front() == '{') {
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
  std::vector<caf::actor> probed{session_registry_};
  probed.insert(probed.end(), broker_->shards.begin(), broker_->shards.end());
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
  for (std::uint32_t i = 0; i < broker_->shards.size(); ++i)
    add(broker_->shards[i], "topic_shard", i);
  for (std::uint32_t i = 0; i < broker_->registry_shards.size(); ++i)
    add(broker_->registry_shards[i], "registry_shard", i);
  add(broker_->registry_control, "registry_control", 0);
  add(broker_->refusal_log, "refusal_log", 0);
  add(broker_->storage_gate, "storage_gate", 0);
  metrics_readings base;
  base.topic_shards = broker_->shards.size();
  base.registry_shards = broker_->registry_shards.size();
  base.node = facts_.name;
  base.version = facts_.version;
  base.uptime_seconds = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::steady_clock::now() - facts_.started)
                            .count();
  base.actors_running = system_.registry().running();
  ask_all<std::uint64_t>(
      system_, targets, mailbox_probe{}, std::chrono::milliseconds(1000),
      [c, who, base](std::vector<std::optional<std::uint64_t>> answers) mutable {
        for (std::size_t i = 0; i < answers.size(); ++i)
          if (answers[i]) base.mailboxes.push_back({(*who)[i].kind, (*who)[i].index, *answers[i]});
        base.resident_bytes = resident_memory_bytes();
        http_response r{http::status::ok, c->request.version()};
        r.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
        r.body() = render_prometheus(base);
        c->respond(std::move(r));
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
                 {"topicShards", broker_->shards.size()},
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

// ---- clients and sessions ----

void management_api::page_sessions(std::shared_ptr<call> c, bool connected_only) {
  auto limit = c->limit();
  if (!limit) return;
  struct paging {
    std::string after;
    json data = json::array();
    std::uint32_t pages = 0;
  };
  auto p = std::make_shared<paging>();
  p->after = c->query_value("after");
  std::string prefix = c->query_value("prefix");
  std::string identity = c->query_value("identity");
  auto self = this;
  // One page from the registry, summaries from its sessions, and on until
  // the answer is full. Pages of sessions that all filter out still end:
  // after 50 pages the answer goes with what it has and its cursor.
  auto step = std::make_shared<std::function<void()>>();
  *step = [self, c, p, limit = *limit, prefix, identity, connected_only, step] {
    session_page_request req{p->after, prefix, limit};
    ask<session_page>(
        self->system_, self->session_registry_, req, self->timeout_,
        [self, c, p, limit, prefix, identity, connected_only,
         step](std::optional<session_page> page) {
          if (!page) return c->fail(504, "the session registry did not answer in time");
          auto ids = page->client_ids;
          bool more = page->more;
          std::uint64_t total = page->total;
          ask_all<session_summary>(
              self->system_, page->sessions, session_summary_request{false}, self->timeout_,
              [self, c, p, limit, ids, more, total, connected_only, identity,
               step](std::vector<std::optional<session_summary>> summaries) {
                for (std::size_t i = 0; i < summaries.size(); ++i) {
                  p->after = ids[i];
                  if (!summaries[i]) continue;  // ended meanwhile
                  if (connected_only && !summaries[i]->connected) continue;
                  if (!identity.empty() && summaries[i]->identity != identity) continue;
                  p->data.push_back(to_json(*summaries[i]));
                  if (p->data.size() == limit) break;
                }
                bool full = p->data.size() >= limit;
                bool exhausted = !more && (ids.empty() || p->after == ids.back());
                if (!full && !exhausted && ++p->pages < 50) return (*step)();
                json answer{{"data", std::move(p->data)},
                            {"next", exhausted && !full ? json(nullptr) : json(p->after)},
                            {"totalSessions", total}};
                if (full && !more && p->after == (ids.empty() ? "" : ids.back()))
                  answer["next"] = nullptr;
                c->reply(200, answer);
                *step = nullptr;  // breaks the cycle through the closure
              });
        });
  };
  (*step)();
}

void management_api::list_clients(std::shared_ptr<call> c) {
  page_sessions(std::move(c), true);
}

void management_api::list_sessions(std::shared_ptr<call> c) {
  page_sessions(std::move(c), false);
}

template <class F>
void management_api::with_session(std::shared_ptr<call> c, F f) {
  std::string id = c->param("clientId");
  ask<session_page>(system_, session_registry_, session_lookup{id}, timeout_,
                    [c, id, f = std::move(f)](std::optional<session_page> page) mutable {
                      if (!page) return c->fail(504, "the session registry did not answer in time");
                      if (page->sessions.empty())
                        return c->fail(404, "no session for client id '" + id + "'");
                      f(page->sessions.front());
                    });
}

void management_api::get_client(std::shared_ptr<call> c) {
  with_session(c, [this, c](caf::actor session) {
    ask<session_summary>(system_, session, session_summary_request{true}, timeout_,
                         [c](std::optional<session_summary> s) {
                           if (!s || !s->connected)
                             return c->fail(
                                 404, "client '" + c->param("clientId") + "' is not connected");
                           json j = to_json(*s);
                           json subs = json::array();
                           for (const auto& r : s->subscriptions)
                             subs.push_back(to_json(r));
                           j["subscriptions"] = std::move(subs);
                           c->reply(200, j);
                         });
  });
}

void management_api::get_session(std::shared_ptr<call> c) {
  with_session(c, [this, c](caf::actor session) {
    ask<session_summary>(system_, session, session_summary_request{true}, timeout_,
                         [c](std::optional<session_summary> s) {
                           if (!s) return c->fail(404, "the session ended");
                           json j = to_json(*s);
                           json subs = json::array();
                           for (const auto& r : s->subscriptions)
                             subs.push_back(to_json(r));
                           j["subscriptions"] = std::move(subs);
                           c->reply(200, j);
                         });
  });
}

// A session keeps its subscriptions sorted by filter, so pages go by filter.
void management_api::get_subscriptions(std::shared_ptr<call> c) {
  auto limit = c->limit();
  if (!limit) return;
  with_session(c, [this, c, limit = *limit](caf::actor session) {
    ask<session_summary>(system_, session, session_summary_request{true}, timeout_,
                         [c, limit](std::optional<session_summary> s) {
                           if (!s) return c->fail(404, "the session ended");
                           std::string after = c->query_value("after");
                           json subs = json::array();
                           json next = nullptr;
                           for (const auto& r : s->subscriptions) {
                             if (!after.empty() && r.filter <= after) continue;
                             if (subs.size() == limit) {
                               next = subs.back()["filter"];
                               break;
                             }
                             subs.push_back(to_json(r));
                           }
                           c->reply(200, {{"data", std::move(subs)}, {"next", std::move(next)}});
                         });
  });
}

void management_api::kick_client(std::shared_ptr<call> c) {
  with_session(c, [this, c](caf::actor session) {
    ask<bool>(system_, session, kick_request{"disconnected by an operator"}, timeout_,
              [c](std::optional<bool> was_connected) {
                if (!was_connected || !*was_connected)
                  return c->fail(404, "client '" + c->param("clientId") + "' is not connected");
                c->no_content();
              });
  });
}

void management_api::discard_session(std::shared_ptr<call> c) {
  with_session(c, [this, c](caf::actor session) {
    spdlog::info("API: discarding the session of '{}'", c->param("clientId"));
    ask<bool>(system_, session, convoy::discard_session{}, timeout_, [c](std::optional<bool> done) {
      if (!done) return c->fail(404, "the session ended");
      c->no_content();
    });
  });
}

// ---- messages ----

void management_api::route_message(std::shared_ptr<call> c, std::shared_ptr<const app_message> m,
                                   bool answer_receivers) {
  const caf::actor& shard = broker_->shard_for_topic(m->topic);
  ask<route_outcome>(system_, shard, route_request{message_ref{std::move(m)}}, timeout_,
                     [c, answer_receivers](std::optional<route_outcome> o) {
                       if (!o) return c->fail(503, "the message could not be routed (storage?)");
                       if (!answer_receivers) return c->no_content();
                       c->reply(200, {{"receivers", o->receivers}, {"refused", o->refused}});
                     });
}

void management_api::publish(std::shared_ptr<call> c) {
  auto body = c->body_object();
  if (!body) return;
  auto& b = *body;
  auto text = [&](const char* key, std::string& out, bool required) -> bool {
    auto it = b.find(key);
    if (it == b.end()) {
      if (required) c->fail(400, std::string{"\""} + key + "\" is required");
      return !required;
    }
    if (!it->is_string()) {
      c->fail(400, std::string{"\""} + key + "\" must be a string");
      return false;
    }
    out = it->get<std::string>();
    return true;
  };
  auto m = std::make_shared<app_message>();
  std::string payload, encoding = "utf8", content_type, response_topic, correlation;
  if (!text("topic", m->topic, true) || !text("payload", payload, false) ||
      !text("payloadEncoding", encoding, false) || !text("contentType", content_type, false) ||
      !text("responseTopic", response_topic, false) || !text("correlationData", correlation, false))
    return;
  if (mqtt::validate_topic_name(m->topic) != mqtt::reason_code::success)
    return c->fail(400, "\"topic\" is not a valid topic name (no wildcards, not empty)");
  if (m->topic.starts_with("$"))
    return c->fail(400, "\"topic\" must not start with '$' (reserved for the broker)");
  if (encoding == "base64") {
    auto decoded = base64_decode(payload);
    if (!decoded) return c->fail(400, "\"payload\" is not valid base64");
    payload = std::move(*decoded);
  } else if (encoding != "utf8") {
    return c->fail(400, "\"payloadEncoding\" must be utf8 or base64");
  }
  int qos = 0;
  if (auto it = b.find("qos"); it != b.end()) {
    if (!it->is_number_integer() || it->get<int>() < 0 || it->get<int>() > 2)
      return c->fail(400, "\"qos\" must be 0, 1 or 2");
    qos = it->get<int>();
  }
  if (auto it = b.find("retain"); it != b.end()) {
    if (!it->is_boolean()) return c->fail(400, "\"retain\" must be true or false");
    m->retain = it->get<bool>();
  }
  if (auto it = b.find("messageExpiryInterval"); it != b.end()) {
    if (!it->is_number_unsigned() || it->get<std::uint64_t>() > 0xFFFFFFFFu)
      return c->fail(400, "\"messageExpiryInterval\" must be seconds, 0 to 4294967295");
    if (auto s = it->get<std::uint64_t>(); s > 0)
      m->expires_at = now_ms() + static_cast<std::int64_t>(s) * 1000;
  }
  if (auto it = b.find("userProperties"); it != b.end()) {
    if (!it->is_object()) return c->fail(400, "\"userProperties\" must be an object of strings");
    for (const auto& [k, v] : it->items()) {
      if (!v.is_string()) return c->fail(400, "\"userProperties\" values must be strings");
      m->props.add_user_property(k, v.get<std::string>());
    }
  }
  if (payload.size() > broker_->settings.max_packet_size)
    return c->fail(413, "the payload is larger than mqtt.max_packet_size");
  if (!content_type.empty()) m->props.add(mqtt::property_id::content_type, content_type);
  if (!response_topic.empty()) {
    if (mqtt::validate_topic_name(response_topic) != mqtt::reason_code::success)
      return c->fail(400, "\"responseTopic\" is not a valid topic name");
    m->props.add(mqtt::property_id::response_topic, response_topic);
  }
  if (!correlation.empty()) m->props.add(mqtt::property_id::correlation_data, correlation);
  m->qos = static_cast<mqtt::qos>(qos);
  m->payload = std::make_shared<const std::string>(std::move(payload));
  m->publisher = "$api";
  m->published_us = now_us();
  metrics::add(static_cast<counter>(static_cast<int>(counter::messages_received_qos0) + qos));
  route_message(std::move(c), std::move(m), true);
}

void management_api::list_retained(std::shared_ptr<call> c) {
  auto limit = c->limit();
  if (!limit) return;
  std::string filter = c->query.count("filter") ? c->query_value("filter") : "#";
  if (mqtt::validate_topic_filter(filter) != mqtt::reason_code::success)
    return c->fail(400, "\"filter\" is not a valid topic filter");
  retained_page_request req{filter, c->query_value("after"), *limit};
  // Every shard's first page, merged in topic order: a topic lives in one
  // shard, so the first `limit` of the merge are the page.
  ask_all<retained_page>(
      system_, broker_->shards, req, timeout_,
      [c, limit = *limit](std::vector<std::optional<retained_page>> pages) {
        std::vector<message_ref> all;
        bool more = false;
        for (auto& p : pages) {
          if (!p) return c->fail(504, "a topic shard did not answer in time");
          more = more || p->more;
          for (auto& m : p->messages)
            all.push_back(std::move(m));
        }
        std::sort(all.begin(), all.end(),
                  [](const auto& a, const auto& b) { return a->topic < b->topic; });
        if (all.size() > limit) {
          all.resize(limit);
          more = true;
        }
        json data = json::array();
        for (const auto& m : all)
          data.push_back(to_json(*m));
        json next = more && !all.empty() ? json(all.back()->topic) : json(nullptr);
        c->reply(200, {{"data", std::move(data)}, {"next", std::move(next)}});
      });
}

void management_api::get_retained(std::shared_ptr<call> c) {
  std::string topic = c->param("topic");
  if (mqtt::validate_topic_name(topic) != mqtt::reason_code::success)
    return c->fail(400, "not a valid topic name: " + topic);
  retained_page_request req{topic, {}, 1};
  ask<retained_page>(system_, broker_->shard_for_topic(topic), req, timeout_,
                     [c, topic](std::optional<retained_page> page) {
                       if (!page) return c->fail(504, "the topic shard did not answer in time");
                       if (page->messages.empty())
                         return c->fail(404, "no retained message on " + topic);
                       c->reply(200, to_json(*page->messages.front()));
                     });
}

void management_api::delete_retained(std::shared_ptr<call> c) {
  std::string topic = c->param("topic");
  if (mqtt::validate_topic_name(topic) != mqtt::reason_code::success)
    return c->fail(400, "not a valid topic name: " + topic);
  retained_page_request req{topic, {}, 1};
  ask<retained_page>(system_, broker_->shard_for_topic(topic), req, timeout_,
                     [this, c, topic](std::optional<retained_page> page) {
                       if (!page) return c->fail(504, "the topic shard did not answer in time");
                       if (page->messages.empty())
                         return c->fail(404, "no retained message on " + topic);
                       // An empty retained message clears the topic, stored copy
                       // included, and reaches no subscriber.
                       auto m = std::make_shared<app_message>();
                       m->topic = topic;
                       m->payload = std::make_shared<const std::string>();
                       m->retain = true;
                       m->qos = mqtt::qos::at_least_once;
                       m->publisher = "$api";
                       route_message(c, std::move(m), false);
                     });
}

// ---- registry ----

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
  const caf::actor& shard = broker_->registry_shard_for(cmd.vin);
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
    targets.push_back(shards[i]);
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
  const auto& shard = broker_->state_shards[broker_->state_index_for(vin)];
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

// ---- consent ----

namespace {

json to_json(const consent_record& r) {
  return {{"vin", r.vin},
          {"subject", r.subject},
          {"purpose", r.purpose},
          {"grantedAt", r.granted_at},
          {"expiresAt", r.expires_at == 0 ? json(nullptr) : json(r.expires_at)},
          {"grantedBy", r.granted_by}};
}

}  // namespace

void management_api::consent_purposes(std::shared_ptr<call> c) {
  json data = json::array();
  for (const auto& p : broker_->consent_purposes->purposes())
    data.push_back({{"name", p.name},
                    {"description", p.description},
                    {"topics", p.topics},
                    {"commands", p.commands}});
  c->reply(200, {{"data", std::move(data)}});
}

void management_api::grant_consent(std::shared_ptr<call> c) {
  auto body = c->body_object();
  if (!body) return;
  consent_record r;
  r.vin = c->param("vin");
  r.granted_by = c->who;
  for (auto [key, field] : {std::pair{"subject", &r.subject}, {"purpose", &r.purpose}}) {
    auto it = body->find(key);
    if (it == body->end() || !it->is_string() || it->get<std::string>().empty())
      return c->fail(400, std::string{"\""} + key + "\" is required (a string)");
    *field = it->get<std::string>();
  }
  if (!printable(r.subject)) return c->fail(400, "\"subject\" holds control characters");
  if (body->contains("expiresAt") && body->contains("ttlSeconds"))
    return c->fail(400, "give \"expiresAt\" or \"ttlSeconds\", not both");
  if (auto it = body->find("expiresAt"); it != body->end()) {
    if (!it->is_number_integer() || it->get<std::int64_t>() <= 0)
      return c->fail(400, "\"expiresAt\" must be a Unix time in milliseconds");
    r.expires_at = it->get<std::int64_t>();
  }
  if (auto it = body->find("ttlSeconds"); it != body->end()) {
    if (!it->is_number_unsigned() || it->get<std::uint64_t>() == 0 ||
        it->get<std::uint64_t>() > 100ull * 365 * 86'400)
      return c->fail(400, "\"ttlSeconds\" must be a positive number of seconds");
    r.expires_at = now_ms() + static_cast<std::int64_t>(it->get<std::uint64_t>()) * 1000;
  }
  // Only registered vehicles get consents.
  registry_command get;
  get.what = registry_command::op::get_vehicle;
  get.vin = r.vin;
  ask<registry_result>(system_, broker_->registry_shard_for(r.vin), get, timeout_,
                       [this, c, r](std::optional<registry_result> v) mutable {
                         if (!v) return c->fail(504, "the registry did not answer in time");
                         if (!v->ok) return c->fail(404, "vehicle " + r.vin + " is not registered");
                         ask<consent_result>(
                             system_, broker_->consent_shard_for(r.vin), consent_grant{r}, timeout_,
                             [c](std::optional<consent_result> g) {
                               if (!g)
                                 return c->fail(504, "the consent shard did not answer in time");
                               if (!g->ok) return c->fail(400, g->error);
                               c->reply(201, to_json(g->record));
                             });
                       });
}

void management_api::list_consents(std::shared_ptr<call> c) {
  auto limit = c->limit();
  if (!limit) return;
  std::string vin = c->param("vin");
  ask<consent_list>(system_, broker_->consent_shard_for(vin), consent_list_request{vin}, timeout_,
                    [c, limit = *limit](std::optional<consent_list> l) {
                      if (!l) return c->fail(504, "the consent shard did not answer in time");
                      // Sorted by subject and purpose; the cursor is both, a
                      // newline between (neither holds one).
                      std::string after = c->query_value("after");
                      json data = json::array();
                      json next = nullptr;
                      for (const auto& r : l->records) {
                        std::string key = r.subject + "\n" + r.purpose;
                        if (!after.empty() && key <= after) continue;
                        if (data.size() == limit) {
                          next = data.back()["subject"].get<std::string>() + "\n" +
                                 data.back()["purpose"].get<std::string>();
                          break;
                        }
                        data.push_back(to_json(r));
                      }
                      c->reply(200, {{"data", std::move(data)}, {"next", std::move(next)}});
                    });
}

void management_api::check_consent(std::shared_ptr<call> c) {
  consent_check check{c->param("vin"), c->query_value("subject"), c->query_value("topic"),
                      c->query_value("command")};
  if (check.subject.empty()) return c->fail(400, "\"subject\" is required");
  if (check.topic.empty() == check.command.empty())
    return c->fail(400, "give one of \"topic\" and \"command\"");
  if (!check.topic.empty() && mqtt::validate_topic_name(check.topic) != mqtt::reason_code::success)
    return c->fail(400, "\"topic\" is not a valid topic name");
  ask<consent_verdict>(system_, broker_->consent_shard_for(check.vin), check, timeout_,
                       [c](std::optional<consent_verdict> v) {
                         if (!v) return c->fail(504, "the consent shard did not answer in time");
                         json answer{{"allowed", v->allowed}};
                         if (v->allowed)
                           answer["purpose"] = v->purpose;
                         else
                           answer["reason"] = v->reason;
                         c->reply(200, answer);
                       });
}

void management_api::revoke_consent(std::shared_ptr<call> c) {
  consent_revoke rv{c->param("vin"), c->param("subject"), c->param("purpose"), c->who};
  ask<consent_result>(system_, broker_->consent_shard_for(rv.vin), rv, timeout_,
                      [c](std::optional<consent_result> r) {
                        if (!r) return c->fail(504, "the consent shard did not answer in time");
                        if (!r->ok)
                          return c->fail(r->error == "consent not found" ? 404 : 503, r->error);
                        c->no_content();
                      });
}

}  // namespace convoy::runtime
