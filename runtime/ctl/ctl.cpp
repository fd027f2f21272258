#include "runtime/ctl/ctl.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <memory>
#include <optional>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "runtime/ctl/api_client.hpp"
#include "runtime/ctl/table.hpp"

namespace convoy::ctl {

namespace {

using json = nlohmann::json;

// The node said no: its status and message are the user's answer.
struct refused {
  unsigned status;
  std::string message;
};

std::string encode(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xF];
    }
  }
  return out;
}

std::string text(const json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>().empty() ? "-" : v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "yes" : "no";
  return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

class session {
 public:
  explicit session(const options& o)
      : opts_(o),
        client_(o.url,
                o.api_key.empty() && std::getenv("CONVOY_API_KEY") ? std::getenv("CONVOY_API_KEY")
                                                                   : o.api_key,
                o.token.empty() && std::getenv("CONVOY_API_TOKEN") ? std::getenv("CONVOY_API_TOKEN")
                                                                   : o.token,
                std::chrono::milliseconds(static_cast<long>(o.timeout_s * 1000))) {}

  // The JSON answer of a 2xx (null for 204); throws refused otherwise.
  json call(const std::string& method, const std::string& target, const json& body = nullptr) {
    auto r = client_.call(
        method, target,
        body.is_null() ? std::string{} : body.dump(-1, ' ', false, json::error_handler_t::replace));
    json answer = r.body.empty() ? json(nullptr) : json::parse(r.body, nullptr, false);
    if (r.status >= 200 && r.status < 300) return answer;
    std::string message = answer.is_object() && answer.contains("message")
                              ? answer["message"].get<std::string>()
                              : r.body;
    throw refused{r.status, message};
  }

  // Every page of a listing when `all`, else the first.
  json list(const std::string& path, std::vector<std::pair<std::string, std::string>> query,
            bool all) {
    json data = json::array();
    std::string after;
    for (;;) {
      std::string target = path;
      char sep = '?';
      for (const auto& [k, v] : query) {
        if (v.empty()) continue;
        target += sep + k + "=" + encode(v);
        sep = '&';
      }
      if (!after.empty()) target += sep + std::string{"after="} + encode(after);
      json page = call("GET", target);
      for (auto& item : page["data"])
        data.push_back(std::move(item));
      if (!all || page["next"].is_null()) return data;
      after = page["next"].get<std::string>();
    }
  }

  bool json_output() const { return opts_.json; }
  double timeout_s() const { return opts_.timeout_s; }

 private:
  const options& opts_;
  api_client client_;
};

// Times the API gives in Unix milliseconds, as UTC.
std::string timestamp(const json& v) {
  if (!v.is_number_integer()) return text(v);
  std::time_t seconds = static_cast<std::time_t>(v.get<std::int64_t>() / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char out[32];
  std::strftime(out, sizeof out, "%Y-%m-%d %H:%M:%S UTC", &utc);
  return out;
}

// A timeline's event times, to the millisecond: events of one command are
// often milliseconds apart.
std::string precise_timestamp(const json& v) {
  if (!v.is_number_integer()) return text(v);
  auto ms = v.get<std::int64_t>();
  std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char out[40];
  std::size_t n = std::strftime(out, sizeof out, "%H:%M:%S", &utc);
  std::snprintf(out + n, sizeof out - n, ".%03d", static_cast<int>(ms % 1000));
  return out;
}

std::string cell(const json& object, const std::string& key) {
  if (!object.contains(key)) return "-";
  if (key == "at") return precise_timestamp(object[key]);
  if (key.size() > 2 && key.ends_with("At")) return timestamp(object[key]);
  return text(object[key]);
}

void print_fields(const json& object,
                  const std::vector<std::pair<std::string, std::string>>& fields) {
  std::size_t width = 0;
  for (const auto& [label, key] : fields)
    if (object.contains(key)) width = std::max(width, label.size());
  for (const auto& [label, key] : fields) {
    if (!object.contains(key)) continue;
    std::cout << label << ":" << std::string(width - label.size() + 1, ' ') << cell(object, key)
              << "\n";
  }
}

void print_rows(const json& data, const std::vector<std::pair<std::string, std::string>> columns) {
  std::vector<std::string> header;
  for (const auto& c : columns)
    header.push_back(c.first);
  table t(header);
  for (const auto& item : data) {
    std::vector<std::string> row;
    for (const auto& c : columns)
      row.push_back(cell(item, c.second));
    t.add(std::move(row));
  }
  t.print(std::cout);
}

const std::vector<std::pair<std::string, std::string>> session_columns = {
    {"CLIENT ID", "clientId"},     {"CONNECTED", "connected"}, {"IDENTITY", "identity"},
    {"TRANSPORT", "transport"},    {"PEER", "peer"},           {"MQTT", "protocolVersion"},
    {"SUBS", "subscriptionCount"}, {"QUEUED", "queued"},       {"INFLIGHT", "inflight"}};

const std::vector<std::pair<std::string, std::string>> session_fields = {
    {"client id", "clientId"},
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

void print_vehicle(const json& v) {
  print_fields(v, {{"vin", "vin"},
                   {"model", "model"},
                   {"region", "region"},
                   {"status", "status"},
                   {"created", "createdAt"},
                   {"updated", "updatedAt"}});
  if (!v.contains("devices") || v["devices"].empty()) return;
  std::cout << "\n";
  print_rows(v["devices"],
             {{"DEVICE", "deviceId"}, {"STATUS", "status"}, {"FINGERPRINT", "fingerprint"}});
}

void print_command(const json& c) {
  print_fields(c, {{"id", "id"},
                   {"vin", "vin"},
                   {"command", "command"},
                   {"status", "status"},
                   {"requested by", "requestedBy"},
                   {"created", "createdAt"},
                   {"result", "result"}});
  if (c.contains("timeline")) {
    std::cout << "\n";
    print_rows(c["timeline"], {{"AT", "at"}, {"STATUS", "status"}, {"DETAIL", "detail"}});
  }
}

void print_session(const json& s) {
  print_fields(s, session_fields);
  if (s.contains("subscriptions") && !s["subscriptions"].empty()) {
    std::cout << "\n";
    print_rows(s["subscriptions"], {{"FILTER", "filter"}, {"QOS", "qos"}, {"NO LOCAL", "noLocal"}});
  }
}

}  // namespace

std::function<int()> add_commands(CLI::App& ctl, options& opts) {
  ctl.add_option("--url", opts.url, "The node's HTTP address")
      ->capture_default_str()
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  ctl.add_option("--api-key", opts.api_key, "API key (or $CONVOY_API_KEY)");
  ctl.add_option("--token", opts.token, "Bearer JWT with the operator role (or $CONVOY_API_TOKEN)");
  ctl.add_flag("--json", opts.json, "Print the API's JSON instead of tables");
  ctl.add_option("--timeout", opts.timeout_s, "Seconds to wait for the node")
      ->capture_default_str();
  ctl.require_subcommand(1);

  struct command {
    CLI::App* app;
    std::function<void(session&)> run;
  };
  auto commands = std::make_shared<std::vector<command>>();
  auto add = [&](CLI::App* app, std::function<void(session&)> run) {
    commands->push_back({app, std::move(run)});
  };
  // Shown as JSON or through `show`.
  auto output = [](session& s, const json& j, const std::function<void(const json&)>& show) {
    if (s.json_output())
      std::cout << j.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
    else
      show(j);
  };

  add(ctl.add_subcommand("node", "Node status"), [output](session& s) {
    output(s, s.call("GET", "/api/v1/node"), [](const json& n) {
      print_fields(n, {{"name", "name"},
                       {"version", "version"},
                       {"uptime (s)", "uptimeSeconds"},
                       {"connections", "connections"},
                       {"sessions", "sessions"},
                       {"topic shards", "topicShards"},
                       {"storage", "storage"},
                       {"memory (bytes)", "residentMemoryBytes"}});
      std::cout << "\n";
      print_rows(n["listeners"], {{"LISTENER", "protocol"}, {"PORT", "port"}});
    });
  });

  auto* stats = ctl.add_subcommand("stats", "Counters and gauges");
  auto nonzero = std::make_shared<bool>(false);
  stats->add_flag("--nonzero", *nonzero, "Only counters that are not 0");
  add(stats, [output, nonzero](session& s) {
    output(s, s.call("GET", "/api/v1/stats"), [nonzero](const json& st) {
      table t({"NAME", "VALUE"});
      for (const auto& [k, v] : st["gauges"].items())
        t.add({k, text(v)});
      for (const auto& [k, v] : st["counters"].items())
        if (!*nonzero || v.get<std::uint64_t>() != 0) t.add({k, text(v)});
      t.print(std::cout);
    });
  });

  struct listing {
    std::string prefix, identity;
    std::uint32_t limit = 100;
    bool all = false;
  };
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
    add(app, [output, clients_opts, path = std::string{path}](session& s) {
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
  add(client, [output, id](session& s) {
    output(s, s.call("GET", "/api/v1/clients/" + encode(*id)), print_session);
  });
  auto* one_session = ctl.add_subcommand("session", "One session with its subscriptions");
  one_session->add_option("client_id", *id, "Client id")->required();
  add(one_session, [output, id](session& s) {
    output(s, s.call("GET", "/api/v1/sessions/" + encode(*id)), print_session);
  });
  auto* kick = ctl.add_subcommand("kick", "Disconnect a client (its session stays)");
  kick->add_option("client_id", *id, "Client id")->required();
  add(kick, [id](session& s) {
    s.call("DELETE", "/api/v1/clients/" + encode(*id));
    std::cout << "disconnected " << *id << "\n";
  });
  auto* discard = ctl.add_subcommand("discard", "Discard a session: subscriptions, queue, state");
  discard->add_option("client_id", *id, "Client id")->required();
  add(discard, [id](session& s) {
    s.call("DELETE", "/api/v1/sessions/" + encode(*id));
    std::cout << "discarded the session of " << *id << "\n";
  });

  struct publishing {
    std::string topic, payload, content_type;
    int qos = 0;
    bool retain = false, base64 = false;
  };
  auto pub = std::make_shared<publishing>();
  auto* publish = ctl.add_subcommand("publish", "Publish a message as the broker");
  publish->add_option("topic", pub->topic, "Topic")->required();
  publish->add_option("payload", pub->payload, "Payload (text, or base64 with --base64)");
  publish->add_option("-q,--qos", pub->qos, "QoS")->check(CLI::Range(0, 2));
  publish->add_flag("-r,--retain", pub->retain, "Retain it");
  publish->add_flag("--base64", pub->base64, "The payload is base64");
  publish->add_option("--content-type", pub->content_type, "MQTT 5 content type");
  add(publish, [output, pub](session& s) {
    json body{{"topic", pub->topic},
              {"payload", pub->payload},
              {"qos", pub->qos},
              {"retain", pub->retain},
              {"payloadEncoding", pub->base64 ? "base64" : "utf8"}};
    if (!pub->content_type.empty()) body["contentType"] = pub->content_type;
    output(s, s.call("POST", "/api/v1/publish", body), [](const json& r) {
      std::cout << "delivered to " << r["receivers"] << " sessions";
      if (r["refused"].get<int>() > 0)
        std::cout << ", refused by " << r["refused"] << " (queue full)";
      std::cout << "\n";
    });
  });

  auto* retained = ctl.add_subcommand("retained", "Retained messages: list, get, delete");
  retained->require_subcommand(1);
  auto ret = std::make_shared<listing>();
  auto filter = std::make_shared<std::string>("#");
  auto* ret_list = retained->add_subcommand("list", "Retained messages matching a filter");
  ret_list->add_option("filter", *filter, "Topic filter")->capture_default_str();
  ret_list->add_option("--limit", ret->limit, "Per page (1-1000)")->capture_default_str();
  ret_list->add_flag("--all", ret->all, "Every page");
  add(ret_list, [output, ret, filter](session& s) {
    json data = s.list("/api/v1/retained",
                       {{"filter", *filter}, {"limit", std::to_string(ret->limit)}}, ret->all);
    output(s, data, [](const json& d) {
      print_rows(d, {{"TOPIC", "topic"}, {"QOS", "qos"}, {"PAYLOAD", "payload"}});
    });
  });
  auto topic = std::make_shared<std::string>();
  auto* ret_get = retained->add_subcommand("get", "The retained message of a topic");
  ret_get->add_option("topic", *topic, "Topic")->required();
  add(ret_get, [output, topic](session& s) {
    output(s, s.call("GET", "/api/v1/retained/" + encode(*topic)), [](const json& m) {
      print_fields(m, {{"topic", "topic"},
                       {"qos", "qos"},
                       {"encoding", "payloadEncoding"},
                       {"content type", "contentType"},
                       {"payload", "payload"}});
    });
  });
  auto* ret_delete = retained->add_subcommand("delete", "Clear the retained message of a topic");
  ret_delete->add_option("topic", *topic, "Topic")->required();
  add(ret_delete, [topic](session& s) {
    s.call("DELETE", "/api/v1/retained/" + encode(*topic));
    std::cout << "cleared the retained message of " << *topic << "\n";
  });

  auto* vehicles = ctl.add_subcommand("vehicles", "The device registry: vehicles");
  vehicles->require_subcommand(1);
  struct vehicle_args {
    std::string vin, model, region, device, new_device, fingerprint;
  };
  auto v = std::make_shared<vehicle_args>();
  auto v_list = std::make_shared<listing>();
  auto* v_ls = vehicles->add_subcommand("list", "Registered vehicles, in VIN order");
  v_ls->add_option("--status", v_list->prefix, "active or suspended");
  v_ls->add_option("--region", v_list->identity, "Only this region");
  v_ls->add_option("--limit", v_list->limit, "Per page (1-1000)")->capture_default_str();
  v_ls->add_flag("--all", v_list->all, "Every page");
  add(v_ls, [output, v_list](session& s) {
    json data = s.list("/api/v1/vehicles",
                       {{"status", v_list->prefix},
                        {"region", v_list->identity},
                        {"limit", std::to_string(v_list->limit)}},
                       v_list->all);
    output(s, data, [](const json& d) {
      json rows = json::array();
      for (const auto& v : d) {
        json row = v;
        row["deviceCount"] = v["devices"].size();
        rows.push_back(std::move(row));
      }
      print_rows(rows, {{"VIN", "vin"},
                        {"MODEL", "model"},
                        {"REGION", "region"},
                        {"STATUS", "status"},
                        {"DEVICES", "deviceCount"},
                        {"UPDATED", "updatedAt"}});
    });
  });
  auto* v_create = vehicles->add_subcommand("create", "Register a vehicle");
  v_create->add_option("vin", v->vin, "VIN")->required();
  v_create->add_option("--model", v->model, "Model");
  v_create->add_option("--region", v->region, "Region (feeds {region} in access rules)");
  add(v_create, [output, v](session& s) {
    json body{{"vin", v->vin}};
    if (!v->model.empty()) body["model"] = v->model;
    if (!v->region.empty()) body["region"] = v->region;
    output(s, s.call("POST", "/api/v1/vehicles", body), print_vehicle);
  });
  auto* v_update = vehicles->add_subcommand("update", "Change a vehicle's model or region");
  v_update->add_option("vin", v->vin, "VIN")->required();
  v_update->add_option("--model", v->model, "Model");
  v_update->add_option("--region", v->region, "Region");
  add(v_update, [output, v](session& s) {
    json body = json::object();
    if (!v->model.empty()) body["model"] = v->model;
    if (!v->region.empty()) body["region"] = v->region;
    output(s, s.call("PATCH", "/api/v1/vehicles/" + encode(v->vin), body), print_vehicle);
  });
  for (auto [name, help, method, suffix] :
       {std::tuple{"get", "A vehicle and its devices", "GET", ""},
        {"suspend", "Suspend a vehicle (its devices are disconnected)", "POST", "/suspend"},
        {"activate", "Activate a suspended vehicle", "POST", "/activate"},
        {"delete", "Delete a vehicle", "DELETE", ""}}) {
    auto* app = vehicles->add_subcommand(name, help);
    app->add_option("vin", v->vin, "VIN")->required();
    add(app, [output, v, method = std::string{method}, suffix = std::string{suffix}](session& s) {
      json answer = s.call(method, "/api/v1/vehicles/" + encode(v->vin) + suffix,
                           method == "POST" ? json::object() : json(nullptr));
      if (answer.is_null()) {
        std::cout << "deleted " << v->vin << "\n";
        return;
      }
      output(s, answer, print_vehicle);
    });
  }

  auto* state = ctl.add_subcommand("state", "A vehicle's last known state, field by field");
  state->add_option("vin", v->vin, "VIN")->required();
  add(state, [output, v](session& s) {
    output(s, s.call("GET", "/api/v1/vehicles/" + encode(v->vin) + "/state"), [](const json& st) {
      print_fields(st, {{"vin", "vin"}, {"updated", "updatedAt"}});
      std::cout << "\n";
      json rows = json::array();
      for (const auto& [name, f] : st["fields"].items())
        rows.push_back({{"field", name},
                        {"value", f["value"].is_string() ? f["value"] : json(f["value"].dump())},
                        {"at", f["at"]}});
      print_rows(rows, {{"FIELD", "field"}, {"VALUE", "value"}, {"AT", "at"}});
    });
  });

  auto* consents = ctl.add_subcommand("consents", "Consents: grant, list, check, revoke");
  consents->require_subcommand(1);
  struct consent_args {
    std::string subject, purpose, topic, command;
    std::uint64_t ttl = 0;
  };
  auto ca = std::make_shared<consent_args>();
  auto* c_grant = consents->add_subcommand("grant", "Let a service have data or run commands");
  c_grant->add_option("vin", v->vin, "VIN")->required();
  c_grant->add_option("subject", ca->subject, "The service's identity")->required();
  c_grant->add_option("purpose", ca->purpose, "A purpose (see `consents purposes`)")->required();
  c_grant->add_option("--ttl", ca->ttl, "Seconds until it expires (default: until revoked)");
  add(c_grant, [output, v, ca](session& s) {
    json body{{"subject", ca->subject}, {"purpose", ca->purpose}};
    if (ca->ttl > 0) body["ttlSeconds"] = ca->ttl;
    output(s, s.call("POST", "/api/v1/vehicles/" + encode(v->vin) + "/consents", body),
           [](const json& c) {
             print_fields(c, {{"vin", "vin"},
                              {"subject", "subject"},
                              {"purpose", "purpose"},
                              {"granted", "grantedAt"},
                              {"expires", "expiresAt"},
                              {"granted by", "grantedBy"}});
           });
  });
  auto* c_list = consents->add_subcommand("list", "A vehicle's consents in force");
  c_list->add_option("vin", v->vin, "VIN")->required();
  add(c_list, [output, v](session& s) {
    json data = s.list("/api/v1/vehicles/" + encode(v->vin) + "/consents", {}, true);
    output(s, data, [](const json& d) {
      print_rows(d, {{"SUBJECT", "subject"},
                     {"PURPOSE", "purpose"},
                     {"GRANTED", "grantedAt"},
                     {"EXPIRES", "expiresAt"},
                     {"BY", "grantedBy"}});
    });
  });
  auto* c_check = consents->add_subcommand("check", "May a service have a topic or run a command?");
  c_check->add_option("vin", v->vin, "VIN")->required();
  c_check->add_option("subject", ca->subject, "The service's identity")->required();
  c_check->add_option("--topic", ca->topic, "A telemetry topic");
  c_check->add_option("--command", ca->command, "A command name");
  add(c_check, [output, v, ca](session& s) {
    std::string q = "?subject=" + encode(ca->subject);
    if (!ca->topic.empty()) q += "&topic=" + encode(ca->topic);
    if (!ca->command.empty()) q += "&command=" + encode(ca->command);
    output(s, s.call("GET", "/api/v1/vehicles/" + encode(v->vin) + "/consents/check" + q),
           [](const json& r) {
             if (r["allowed"].get<bool>())
               std::cout << "allowed (purpose " << r["purpose"].get<std::string>() << ")\n";
             else
               std::cout << "not allowed: " << r["reason"].get<std::string>() << "\n";
           });
  });
  auto* c_revoke = consents->add_subcommand("revoke", "Revoke a consent; it stops at once");
  c_revoke->add_option("vin", v->vin, "VIN")->required();
  c_revoke->add_option("subject", ca->subject, "The service's identity")->required();
  c_revoke->add_option("purpose", ca->purpose, "The purpose")->required();
  add(c_revoke, [v, ca](session& s) {
    s.call("DELETE", "/api/v1/vehicles/" + encode(v->vin) + "/consents/" + encode(ca->subject) +
                         "/" + encode(ca->purpose));
    std::cout << "revoked: " << ca->subject << " for " << ca->purpose << "\n";
  });
  auto* c_purposes = consents->add_subcommand("purposes", "The purposes consents are given for");
  add(c_purposes, [output](session& s) {
    output(s, s.call("GET", "/api/v1/consent-purposes")["data"], [](const json& d) {
      json rows = json::array();
      for (const auto& p : d) {
        std::string covers;
        for (const auto& t : p["topics"])
          covers += (covers.empty() ? "" : " ") + t.get<std::string>();
        for (const auto& c : p["commands"])
          covers += (covers.empty() ? "" : " ") + c.get<std::string>();
        rows.push_back({{"name", p["name"]}, {"covers", covers}});
      }
      print_rows(rows, {{"PURPOSE", "name"}, {"COVERS", "covers"}});
    });
  });

  auto* commands_app =
      ctl.add_subcommand("commands", "Remote commands: send, list, get (or wait for), cancel");
  commands_app->require_subcommand(1);
  struct command_args {
    std::string name, params, subject, id, key;
    std::uint32_t timeout = 0, ttl = 0;
    bool wait = false;
  };
  auto ka = std::make_shared<command_args>();
  // Long polls until the command ends (or `within` seconds pass), each poll
  // inside the client's own timeout.
  auto follow = [](session& s, const std::string& path, json c, double within) {
    auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(within);
    int poll = std::clamp(static_cast<int>(s.timeout_s()) - 2, 1, 60);
    while (!c["terminal"].get<bool>() && std::chrono::steady_clock::now() < until)
      c = s.call("GET", path + "?wait=" + std::to_string(poll) +
                            "&seen=" + std::to_string(c["events"].get<std::uint64_t>()));
    return c;
  };
  auto* k_send = commands_app->add_subcommand("send", "Send a command to a vehicle");
  k_send->add_option("vin", v->vin, "VIN")->required();
  k_send->add_option("command", ka->name, "Its name, e.g. lock-doors")->required();
  k_send->add_option("--params", ka->params, "Parameters, a JSON object");
  k_send->add_option("--subject", ka->subject, "On whose behalf (consent is checked for it)");
  k_send->add_option("--timeout-seconds", ka->timeout, "Time for the vehicle's final report");
  k_send->add_option("--ttl", ka->ttl, "Seconds to hold it for an offline vehicle");
  k_send->add_option("--idempotency-key", ka->key, "Repeated sends with it make one command");
  k_send->add_flag("--wait", ka->wait, "Wait until the command ends and show its timeline");
  add(k_send, [output, v, ka, follow](session& s) {
    json body{{"command", ka->name}};
    if (!ka->params.empty()) {
      body["params"] = json::parse(ka->params, nullptr, false);
      if (!body["params"].is_object())
        throw std::invalid_argument("--params must be a JSON object");
    }
    if (!ka->subject.empty()) body["subject"] = ka->subject;
    if (ka->timeout > 0) body["timeoutSeconds"] = ka->timeout;
    if (ka->ttl > 0) body["ttlSeconds"] = ka->ttl;
    if (!ka->key.empty()) body["idempotencyKey"] = ka->key;
    const std::string base = "/api/v1/vehicles/" + encode(v->vin) + "/commands";
    json c = s.call("POST", base, body);
    if (ka->wait)
      c = follow(s, base + "/" + encode(c["id"].get<std::string>()), c,
                 c["timeoutSeconds"].get<double>() + c["ttlSeconds"].get<double>() + 10);
    output(s, c, print_command);
  });
  auto* k_list = commands_app->add_subcommand("list", "A vehicle's commands, newest first");
  k_list->add_option("vin", v->vin, "VIN")->required();
  add(k_list, [output, v](session& s) {
    output(s, s.call("GET", "/api/v1/vehicles/" + encode(v->vin) + "/commands")["data"],
           [](const json& d) {
             print_rows(d, {{"ID", "id"},
                            {"COMMAND", "command"},
                            {"STATUS", "status"},
                            {"BY", "requestedBy"},
                            {"CREATED", "createdAt"}});
           });
  });
  auto* k_get = commands_app->add_subcommand("get", "A command with its timeline");
  k_get->add_option("vin", v->vin, "VIN")->required();
  k_get->add_option("id", ka->id, "The command's id")->required();
  k_get->add_flag("--wait", ka->wait, "Wait until it ends");
  add(k_get, [output, v, ka, follow](session& s) {
    const std::string path = "/api/v1/vehicles/" + encode(v->vin) + "/commands/" + encode(ka->id);
    json c = s.call("GET", path);
    if (ka->wait)
      c = follow(s, path, c,
                 c["timeoutSeconds"].get<double>() + c["ttlSeconds"].get<double>() + 10);
    output(s, c, print_command);
  });
  auto* k_cancel = commands_app->add_subcommand("cancel", "Cancel a command on its way");
  k_cancel->add_option("vin", v->vin, "VIN")->required();
  k_cancel->add_option("id", ka->id, "The command's id")->required();
  add(k_cancel, [output, v, ka](session& s) {
    output(s,
           s.call("POST",
                  "/api/v1/vehicles/" + encode(v->vin) + "/commands/" + encode(ka->id) + "/cancel",
                  json::object()),
           print_command);
  });

  auto* rules_app =
      ctl.add_subcommand("rules", "Telemetry routing rules: list, get, put, delete, test");
  rules_app->require_subcommand(1);
  struct rule_args {
    std::string name, topic, payload, format, archive, webhook, republish_topic, subject;
    std::vector<std::string> properties, actions, where;
  };
  // NAME=VALUE pairs as a JSON object.
  auto properties_of = [](const std::vector<std::string>& pairs) {
    json props = json::object();
    for (const auto& p : pairs) {
      auto eq = p.find('=');
      if (eq == std::string::npos)
        throw std::invalid_argument("--property takes NAME=VALUE, not '" + p + "'");
      props[p.substr(0, eq)] = p.substr(eq + 1);
    }
    return props;
  };
  auto print_rule = [](const json& r) {
    auto joined = [](const json& a) {
      std::string out;
      for (const auto& x : a)
        out += (out.empty() ? "" : ", ") + x.get<std::string>();
      return out;
    };
    json flat = r;
    flat["actions"] = joined(r.value("actions", json::array()));
    if (r.contains("where")) flat["where"] = joined(r["where"]);
    std::string props;
    const json wanted = r.value("userProperties", json::object());
    for (const auto& [k, v] : wanted.items())
      props += (props.empty() ? "" : ", ") + k + "=" + v.get<std::string>();
    flat["userProperties"] = props;
    print_fields(flat, {{"rule", "name"},
                        {"origin", "origin"},
                        {"topic", "topic"},
                        {"user properties", "userProperties"},
                        {"where", "where"},
                        {"format", "format"},
                        {"actions", "actions"},
                        {"archive", "archive"},
                        {"webhook", "webhook"},
                        {"republish topic", "republishTopic"},
                        {"subject", "subject"},
                        {"matched", "matched"}});
  };
  auto ra = std::make_shared<rule_args>();
  add(rules_app->add_subcommand("list", "The rules in force and what each matched"),
      [output](session& s) {
        output(s, s.call("GET", "/api/v1/rules")["data"], [](const json& d) {
          json rows = json::array();
          for (const auto& r : d) {
            std::string actions;
            for (const auto& a : r["actions"])
              actions += (actions.empty() ? "" : ",") + a.get<std::string>();
            rows.push_back({{"name", r["name"]},
                            {"origin", r["origin"]},
                            {"topic", r["topic"]},
                            {"actions", actions},
                            {"matched", r["matched"]}});
          }
          print_rows(rows, {{"RULE", "name"},
                            {"ORIGIN", "origin"},
                            {"TOPIC", "topic"},
                            {"ACTIONS", "actions"},
                            {"MATCHED", "matched"}});
        });
      });
  auto* r_get = rules_app->add_subcommand("get", "One rule in force");
  r_get->add_option("name", ra->name, "The rule's name")->required();
  add(r_get, [output, ra, print_rule](session& s) {
    output(s, s.call("GET", "/api/v1/rules/" + encode(ra->name)), print_rule);
  });
  auto* r_put = rules_app->add_subcommand(
      "put", "Create or replace a rule over the API (stored; after rules.file's rules)");
  r_put->add_option("name", ra->name, "The rule's name")->required();
  r_put->add_option("topic", ra->topic, "The topic filter it matches")->required();
  r_put
      ->add_option("-a,--action", ra->actions,
                   "deliver, state, archive, republish or webhook (repeatable)")
      ->required();
  r_put->add_option("-p,--property", ra->properties, "A user property it needs, NAME=VALUE");
  r_put->add_option("-w,--where", ra->where, "A payload predicate, e.g. 'speed > 130'");
  r_put->add_option("--format", ra->format, "auto, json, gzip-json or msgpack");
  r_put->add_option("--archive", ra->archive, "The archive of the archive action");
  r_put->add_option("--webhook", ra->webhook, "The webhook of the webhook action");
  r_put->add_option("--republish-topic", ra->republish_topic, "The republish action's topic");
  r_put->add_option("--subject", ra->subject, "The consent subject a republish needs");
  add(r_put, [output, ra, print_rule, properties_of](session& s) {
    json body{{"topic", ra->topic}, {"actions", ra->actions}};
    if (!ra->properties.empty()) body["userProperties"] = properties_of(ra->properties);
    if (!ra->where.empty()) body["where"] = ra->where;
    for (auto [key, value] : {std::pair{"format", &ra->format},
                              {"archive", &ra->archive},
                              {"webhook", &ra->webhook},
                              {"republishTopic", &ra->republish_topic},
                              {"subject", &ra->subject}})
      if (!value->empty()) body[key] = *value;
    output(s, s.call("PUT", "/api/v1/rules/" + encode(ra->name), body), print_rule);
  });
  auto* r_delete = rules_app->add_subcommand("delete", "Delete a rule made over the API");
  r_delete->add_option("name", ra->name, "The rule's name")->required();
  add(r_delete, [ra](session& s) {
    s.call("DELETE", "/api/v1/rules/" + encode(ra->name));
    std::cout << "deleted rule " << ra->name << "\n";
  });
  auto* r_test = rules_app->add_subcommand("test", "Where a message would go (nothing is sent)");
  r_test->add_option("topic", ra->topic, "The message's topic")->required();
  r_test->add_option("payload", ra->payload, "Its payload (text)");
  r_test->add_option("-p,--property", ra->properties, "A user property, NAME=VALUE");
  add(r_test, [output, ra, properties_of](session& s) {
    json body{{"topic", ra->topic}, {"payload", ra->payload}};
    if (!ra->properties.empty()) body["userProperties"] = properties_of(ra->properties);
    output(s, s.call("POST", "/api/v1/rules/test", body), [](const json& d) {
      auto list = [](const json& a) {
        std::string out;
        for (const auto& x : a)
          out += (out.empty() ? "" : ", ") + x.get<std::string>();
        return out.empty() ? std::string{"-"} : out;
      };
      std::cout << "matched:   " << list(d["matched"]) << "\n"
                << "deliver:   " << (d["deliver"].get<bool>() ? "yes" : "no") << "\n"
                << "state:     " << (d["state"].get<bool>() ? "yes" : "no") << "\n"
                << "archive:   " << list(d["archive"]) << "\n"
                << "republish: " << list(d["republish"]) << "\n"
                << "webhook:   " << list(d["webhook"]) << "\n";
    });
  });

  // Archives and webhooks: those of rules.file and those made over the API.
  struct sink_args {
    std::string name, url, ca_file;
    std::optional<std::int64_t> batch_size, batch_ms, max_queue, timeout_ms, flush_ms,
        max_segment_bytes, max_segment_seconds;
    std::optional<bool> gzip, sync;
  };
  auto sa = std::make_shared<sink_args>();
  auto print_sink = [](const json& d) {
    json flat = d;
    for (auto& [k, v] : flat.items())
      if (!v.is_string()) v = v.dump();
    std::vector<std::pair<std::string, std::string>> fields;
    for (const auto& [k, v] : flat.items())
      fields.emplace_back(k, k);
    print_fields(flat, fields);
  };
  for (const char* kind : {"archives", "webhooks"}) {
    const bool hooks = std::string_view{kind} == "webhooks";
    auto* app =
        ctl.add_subcommand(kind, hooks ? "Webhooks of the routing rules: list, get, put, delete"
                                       : "Archives of the routing rules: list, get, put, delete");
    app->require_subcommand(1);
    const std::string base = std::string{"/api/v1/"} + kind;
    add(app->add_subcommand("list", "Those of rules.file and those made over the API"), [output,
                                                                                         base,
                                                                                         hooks](
                                                                                            session&
                                                                                                s) {
      output(s, s.call("GET", base)["data"], [hooks](const json& d) {
        if (hooks)
          print_rows(d, {{"WEBHOOK", "name"}, {"ORIGIN", "origin"}, {"URL", "url"}});
        else
          print_rows(d, {{"ARCHIVE", "name"}, {"ORIGIN", "origin"}, {"DIRECTORY", "directory"}});
      });
    });
    auto* get = app->add_subcommand("get", "One, with its settings");
    get->add_option("name", sa->name, "Its name")->required();
    add(get, [output, base, sa, print_sink](session& s) {
      output(s, s.call("GET", base + "/" + encode(sa->name)), print_sink);
    });
    auto* put = app->add_subcommand("put", "Create or replace one over the API (stored)");
    put->add_option("name", sa->name, "Its name")->required();
    if (hooks) {
      put->add_option("url", sa->url, "http:// or https:// URL")->required();
      put->add_option("--ca-file", sa->ca_file, "https: the CAs to trust (default: the system's)");
      put->add_option("--batch-size", sa->batch_size, "Items per POST at most");
      put->add_option("--batch-ms", sa->batch_ms, "How long a partial batch waits");
      put->add_option("--max-queue", sa->max_queue, "Items held while the endpoint is down");
      put->add_option("--timeout-ms", sa->timeout_ms, "Per POST");
    } else {
      put->add_option("--gzip", sa->gzip, "true: gzip segments");
      put->add_option("--sync", sa->sync, "false: no fdatasync per batch");
      put->add_option("--flush-ms", sa->flush_ms, "How long a batch waits");
      put->add_option("--max-segment-bytes", sa->max_segment_bytes, "Rotate at this size");
      put->add_option("--max-segment-seconds", sa->max_segment_seconds, "Rotate at this age");
    }
    add(put, [output, base, sa, print_sink](session& s) {
      json body = json::object();
      if (!sa->url.empty()) body["url"] = sa->url;
      if (!sa->ca_file.empty()) body["caFile"] = sa->ca_file;
      for (auto [key, value] : {std::pair{"batchSize", &sa->batch_size},
                                {"batchMs", &sa->batch_ms},
                                {"maxQueue", &sa->max_queue},
                                {"timeoutMs", &sa->timeout_ms},
                                {"flushMs", &sa->flush_ms},
                                {"maxSegmentBytes", &sa->max_segment_bytes},
                                {"maxSegmentSeconds", &sa->max_segment_seconds}})
        if (*value) body[key] = **value;
      if (sa->gzip) body["gzip"] = *sa->gzip;
      if (sa->sync) body["sync"] = *sa->sync;
      output(s, s.call("PUT", base + "/" + encode(sa->name), body), print_sink);
    });
    auto* del = app->add_subcommand("delete", "Delete one made over the API (no rule may name it)");
    del->add_option("name", sa->name, "Its name")->required();
    add(del, [base, sa, hooks](session& s) {
      s.call("DELETE", base + "/" + encode(sa->name));
      std::cout << "deleted " << (hooks ? "webhook " : "archive ") << sa->name << "\n";
    });
  }

  auto* devices = ctl.add_subcommand("devices", "The device registry: a vehicle's devices");
  devices->require_subcommand(1);
  auto* d_add = devices->add_subcommand("add", "Add a device with its certificate fingerprint");
  d_add->add_option("vin", v->vin, "VIN")->required();
  d_add->add_option("device_id", v->device, "Device id")->required();
  d_add->add_option("fingerprint", v->fingerprint, "SHA-256 of its certificate")->required();
  add(d_add, [output, v](session& s) {
    output(s,
           s.call("POST", "/api/v1/vehicles/" + encode(v->vin) + "/devices",
                  {{"deviceId", v->device}, {"fingerprint", v->fingerprint}}),
           print_vehicle);
  });
  auto* d_replace = devices->add_subcommand("replace", "Replace a device (part replacement)");
  d_replace->add_option("vin", v->vin, "VIN")->required();
  d_replace->add_option("old_device_id", v->device, "The device replaced")->required();
  d_replace->add_option("new_device_id", v->new_device, "The new device")->required();
  d_replace->add_option("fingerprint", v->fingerprint, "SHA-256 of its certificate")->required();
  add(d_replace, [output, v](session& s) {
    output(
        s,
        s.call("POST",
               "/api/v1/vehicles/" + encode(v->vin) + "/devices/" + encode(v->device) + "/replace",
               {{"deviceId", v->new_device}, {"fingerprint", v->fingerprint}}),
        print_vehicle);
  });
  for (auto [name, help] : {std::pair{"suspend", "Suspend a device (it is disconnected)"},
                            {"activate", "Activate a suspended device"},
                            {"revoke", "Revoke a device for good"}}) {
    auto* app = devices->add_subcommand(name, help);
    app->add_option("vin", v->vin, "VIN")->required();
    app->add_option("device_id", v->device, "Device id")->required();
    add(app, [output, v, name = std::string{name}](session& s) {
      output(s,
             s.call("POST",
                    "/api/v1/vehicles/" + encode(v->vin) + "/devices/" + encode(v->device) + "/" +
                        name,
                    json::object()),
             print_vehicle);
    });
  }

  return [commands, &opts]() -> int {
    for (const auto& c : *commands) {
      if (!c.app->parsed()) continue;
      try {
        session s(opts);
        c.run(s);
        return 0;
      } catch (const refused& r) {
        std::cerr << "convoy ctl: " << r.status << ": " << r.message << "\n";
        return 1;
      } catch (const connection_error& e) {
        std::cerr << "convoy ctl: " << e.what() << "\n";
        return 2;
      } catch (const std::invalid_argument& e) {
        std::cerr << "convoy ctl: " << e.what() << "\n";
        return 2;
      } catch (const json::exception& e) {
        std::cerr << "convoy ctl: the node's answer is not the JSON expected: " << e.what() << "\n";
        return 2;
      }
    }
    return 2;
  };
}

}  // namespace convoy::ctl
