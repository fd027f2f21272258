// `convoy ctl clients`, `client`, `sessions`, `session`, `kick` and
// `discard`: connected clients and sessions with their subscriptions.

#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "runtime/ctl/area.hpp"

namespace convoy::ctl {

namespace {

const fields session_columns = {
    {"CLIENT ID", "clientId"},     {"CONNECTED", "connected"}, {"IDENTITY", "identity"},
    {"TRANSPORT", "transport"},    {"PEER", "peer"},           {"MQTT", "protocolVersion"},
    {"SUBS", "subscriptionCount"}, {"QUEUED", "queued"},       {"INFLIGHT", "inflight"}};

const fields session_fields = {{"client id", "clientId"},
                               {"connected", "connected"},
                               {"identity", "identity"},
                               {"login", "authMethod"},
                               {"role", "role"},
                               {"transport", "transport"},
                               {"peer", "peer"},
                               {"MQTT", "protocolVersion"},
                               {"keep alive", "keepAlive"},
                               {"session expiry", "sessionExpiryInterval"},
                               {"queued", "queued"},
                               {"queued bytes", "queuedBytes"},
                               {"in flight", "inflight"},
                               {"subscriptions", "subscriptionCount"}};

void print_session(const json& s) {
  print_fields(s, session_fields);
  if (s.contains("subscriptions") && !s["subscriptions"].empty()) {
    std::cout << "\n";
    print_rows(s["subscriptions"], {{"FILTER", "filter"}, {"QOS", "qos"}, {"NO LOCAL", "noLocal"}});
  }
}

}  // namespace

void add_session_commands(CLI::App& ctl, command_set& set) {
  auto clients_opts = std::make_shared<listing>();
  auto* clients = ctl.add_subcommand("clients", "Connected clients");
  auto* sessions = ctl.add_subcommand("sessions", "Sessions, connected or not");
  for (auto* app : {clients, sessions}) {
    app->add_option("--prefix", clients_opts->prefix, "Only client ids starting with this");
    app->add_option("--identity", clients_opts->identity, "Only this login identity");
    app->add_option("--limit", clients_opts->limit, "Per page (1-1000)")->capture_default_str();
    app->add_flag("--all", clients_opts->all, "Every page");
  }
  for (auto [app, path] : {std::pair{clients, "/api/v1/clients"}, {sessions, "/api/v1/sessions"}}) {
    set.add(app, [clients_opts, path = std::string{path}](session& s) {
      json data = s.list(path,
                         {{"prefix", clients_opts->prefix},
                          {"identity", clients_opts->identity},
                          {"limit", std::to_string(clients_opts->limit)}},
                         clients_opts->all);
      output(s, data, [](const json& d) { print_rows(d, session_columns); });
    });
  }

  auto id = std::make_shared<std::string>();
  auto* client = ctl.add_subcommand("client", "One connected client with its subscriptions");
  client->add_option("client_id", *id, "Client id")->required();
  set.add(client, [id](session& s) {
    output(s, s.call("GET", "/api/v1/clients/" + encode(*id)), print_session);
  });
  auto* one_session = ctl.add_subcommand("session", "One session with its subscriptions");
  one_session->add_option("client_id", *id, "Client id")->required();
  set.add(one_session, [id](session& s) {
    output(s, s.call("GET", "/api/v1/sessions/" + encode(*id)), print_session);
  });
  auto* kick = ctl.add_subcommand("kick", "Disconnect a client (its session stays)");
  kick->add_option("client_id", *id, "Client id")->required();
  set.add(kick, [id](session& s) {
    s.call("DELETE", "/api/v1/clients/" + encode(*id));
    std::cout << "disconnected " << *id << "\n";
  });
  auto* discard = ctl.add_subcommand("discard", "Discard a session: subscriptions, queue, state");
  discard->add_option("client_id", *id, "Client id")->required();
  set.add(discard, [id](session& s) {
    s.call("DELETE", "/api/v1/sessions/" + encode(*id));
    std::cout << "discarded the session of " << *id << "\n";
  });
}

}  // namespace convoy::ctl
