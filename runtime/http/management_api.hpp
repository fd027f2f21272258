#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <nlohmann/json.hpp>

#include "actors/core/broker_context.hpp"
#include "config/config.hpp"
#include "runtime/auth/api_keys.hpp"
#include "runtime/auth/jwt_verifier.hpp"
#include "runtime/http/http_server.hpp"

namespace convoy::runtime {

// What the API tells of the node that only the node knows.
struct node_facts {
  std::string name;
  std::string version;
  std::chrono::steady_clock::time_point started;
  std::int64_t started_at_ms = 0;  // Unix epoch
  std::function<std::vector<std::pair<std::string, std::uint16_t>>()> listeners;
  std::function<bool()> accepting;  // listeners open, not shutting down
  // The cluster agent (cluster/cluster_agent.hpp); null for a node alone.
  caf::actor cluster_agent;
};

// The HTTP management API under /api/v1, /metrics, /healthz and /readyz.
// Every route is a translation: it checks the request, asks the actors that
// own the answer (session registry, sessions, topic and registry shards)
// and turns their replies into JSON; nothing here holds broker state.
class management_api {
 public:
  management_api(caf::actor_system& system, context_ptr broker, caf::actor session_registry,
                 const config::node_config& cfg, node_facts facts,
                 std::shared_ptr<class rule_book> rules);
  ~management_api();

  void handle(http_request&& request, const http_peer& peer, http_responder respond);

  // The routes, "GET /api/v1/clients/{clientId}", for the OpenAPI check (a
  // rest-of-path {topic...} as {topic}, OpenAPI's way).
  static std::vector<std::string> route_names();
  // The OpenAPI 3 document served at /api/v1/openapi.json (docs/openapi.json).
  static std::string_view openapi_document();

  struct call;  // one request in flight

 private:
  struct route;
  static const std::vector<route>& routes();
  // Empty when the request may go on; else the status (401, 403) and why.
  std::pair<unsigned, std::string> authorize(const http_request& request, std::string& who);

  // Handlers, one per route.
  void healthz(std::shared_ptr<call> c);
  void readyz(std::shared_ptr<call> c);
  void probe_core_actors(std::shared_ptr<call> c);
  void prometheus(std::shared_ptr<call> c);
  void openapi(std::shared_ptr<call> c);
  void node_status(std::shared_ptr<call> c);
  void stats(std::shared_ptr<call> c);
  // The cluster's members and the links to them
  // (runtime/http/management_api_cluster.cpp).
  void cluster_status(std::shared_ptr<call> c);
  void list_clients(std::shared_ptr<call> c);
  void list_sessions(std::shared_ptr<call> c);
  void get_client(std::shared_ptr<call> c);
  void get_session(std::shared_ptr<call> c);
  void kick_client(std::shared_ptr<call> c);
  void discard_session(std::shared_ptr<call> c);
  void get_subscriptions(std::shared_ptr<call> c);
  void publish(std::shared_ptr<call> c);
  void list_retained(std::shared_ptr<call> c);
  void get_retained(std::shared_ptr<call> c);
  void delete_retained(std::shared_ptr<call> c);
  void list_vehicles(std::shared_ptr<call> c);
  void get_state(std::shared_ptr<call> c);
  void get_history(std::shared_ptr<call> c);
  void fetch_state(std::shared_ptr<call> c,
                   std::function<void(std::shared_ptr<call>, vehicle_state)> then);
  void consent_purposes(std::shared_ptr<call> c);
  void grant_consent(std::shared_ptr<call> c);
  void list_consents(std::shared_ptr<call> c);
  void check_consent(std::shared_ptr<call> c);
  void revoke_consent(std::shared_ptr<call> c);
  // Routing rules (runtime/http/management_api_rules.cpp).
  void list_rules(std::shared_ptr<call> c);
  void get_rule(std::shared_ptr<call> c);
  void put_rule(std::shared_ptr<call> c);
  void delete_rule(std::shared_ptr<call> c);
  // Archives (Spec archive_spec) and webhooks (webhook_spec).
  template <class Spec>
  void list_sinks(std::shared_ptr<call> c);
  template <class Spec>
  void get_sink(std::shared_ptr<call> c);
  template <class Spec>
  void put_sink(std::shared_ptr<call> c);
  template <class Spec>
  void delete_sink(std::shared_ptr<call> c);
  template <class Spec>
  void answer_sinks(std::shared_ptr<call> c, nlohmann::json data, bool one);
  void test_rules(std::shared_ptr<call> c);
  // Remote commands (runtime/http/management_api_commands.cpp).
  void submit_command(std::shared_ptr<call> c);
  void list_commands(std::shared_ptr<call> c);
  void get_command(std::shared_ptr<call> c);
  void command_events(std::shared_ptr<call> c);
  void cancel_command(std::shared_ptr<call> c);
  // 503 and false when the node runs no command workflows.
  bool commands_enabled(call& c) const;

  // Sessions of one page, summarized; connected_only filters (and pages on
  // until the page is full or the sessions end).
  void page_sessions(std::shared_ptr<call> c, bool connected_only);
  // The session of the path's clientId, then f(session) (404 without one).
  template <class F>
  void with_session(std::shared_ptr<call> c, F f);
  void registry_call(std::shared_ptr<call> c, int op, unsigned success_status);
  // A registry route: command Op, answered with Status when it succeeds.
  template <registry_command::op Op, unsigned Status>
  void registry_route(std::shared_ptr<call> c) {
    registry_call(std::move(c), static_cast<int>(Op), Status);
  }
  void route_message(std::shared_ptr<call> c, std::shared_ptr<const struct app_message> m,
                     bool answer_receivers);

  caf::actor_system& system_;
  context_ptr broker_;
  caf::actor session_registry_;
  config::node_config::http_section settings_;
  config::node_config::commands_section commands_;
  node_facts facts_;
  std::chrono::milliseconds timeout_;
  std::unique_ptr<api_keys> keys_;
  std::unique_ptr<jwt_verifier> jwt_;
  std::shared_ptr<class rule_book> rules_;
};

}  // namespace convoy::runtime
