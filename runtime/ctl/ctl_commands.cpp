// `convoy ctl commands`: remote commands to vehicles, sent, listed, followed
// to their end and cancelled.

#include <algorithm>
#include <chrono>
#include <iostream>
#include <memory>
#include <stdexcept>

#include <CLI/CLI.hpp>

#include "runtime/ctl/area.hpp"

namespace convoy::ctl {

namespace {

struct command_args {
  std::string vin, name, params, subject, id, key;
  std::uint32_t timeout = 0, ttl = 0;
  bool wait = false;
};

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

// Long polls until the command ends (or its timeout and TTL pass), each poll
// inside the client's own timeout; shows it, and throws not_succeeded unless
// it succeeded.
void wait_and_show(session& s, const std::string& path, json c) {
  double within = c["timeoutSeconds"].get<double>() + c["ttlSeconds"].get<double>() + 10;
  auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(within);
  int poll = std::clamp(static_cast<int>(s.timeout_s()) - 2, 1, 60);
  while (!c["terminal"].get<bool>() && std::chrono::steady_clock::now() < until)
    c = s.call("GET", path + "?wait=" + std::to_string(poll) +
                          "&seen=" + std::to_string(c["events"].get<std::uint64_t>()));
  output(s, c, print_command);
  const std::string status = c["status"].get<std::string>();
  if (!c["terminal"].get<bool>()) throw not_succeeded{status + ", not ended yet"};
  if (status != "succeeded") throw not_succeeded{status};
}

}  // namespace

void add_command_commands(CLI::App& ctl, command_set& set) {
  auto* commands_app =
      ctl.add_subcommand("commands", "Remote commands: send, list, get (or wait for), cancel");
  commands_app->require_subcommand(1);
  auto ka = std::make_shared<command_args>();
  auto base = [ka] { return "/api/v1/vehicles/" + encode(ka->vin) + "/commands"; };

  auto* k_send = commands_app->add_subcommand("send", "Send a command to a vehicle");
  k_send->add_option("vin", ka->vin, "VIN")->required();
  k_send->add_option("command", ka->name, "Its name, e.g. lock-doors")->required();
  k_send->add_option("--params", ka->params, "Parameters, a JSON object");
  k_send->add_option("--subject", ka->subject, "On whose behalf (consent is checked for it)");
  k_send->add_option("--timeout-seconds", ka->timeout, "Time for the vehicle's final report");
  k_send->add_option("--ttl", ka->ttl, "Seconds to hold it for an offline vehicle");
  k_send->add_option("--idempotency-key", ka->key, "Repeated sends with it make one command");
  k_send->add_flag("--wait", ka->wait,
                   "Wait until the command ends and show its timeline; exit 3 unless it "
                   "succeeded");
  set.add(k_send, [ka, base](session& s) {
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
    json c = s.call("POST", base(), body);
    if (!ka->wait) return output(s, c, print_command);
    const std::string path = base() + "/" + encode(c["id"].get<std::string>());
    wait_and_show(s, path, std::move(c));
  });

  auto* k_list = commands_app->add_subcommand("list", "A vehicle's commands, newest first");
  k_list->add_option("vin", ka->vin, "VIN")->required();
  set.add(k_list, [base](session& s) {
    output(s, s.call("GET", base())["data"], [](const json& d) {
      print_rows(d, {{"ID", "id"},
                     {"COMMAND", "command"},
                     {"STATUS", "status"},
                     {"BY", "requestedBy"},
                     {"CREATED", "createdAt"}});
    });
  });

  auto* k_get = commands_app->add_subcommand("get", "A command with its timeline");
  k_get->add_option("vin", ka->vin, "VIN")->required();
  k_get->add_option("id", ka->id, "The command's id")->required();
  k_get->add_flag("--wait", ka->wait, "Wait until it ends; exit 3 unless it succeeded");
  set.add(k_get, [ka, base](session& s) {
    const std::string path = base() + "/" + encode(ka->id);
    json c = s.call("GET", path);
    if (!ka->wait) return output(s, c, print_command);
    wait_and_show(s, path, std::move(c));
  });

  auto* k_cancel = commands_app->add_subcommand("cancel", "Cancel a command on its way");
  k_cancel->add_option("vin", ka->vin, "VIN")->required();
  k_cancel->add_option("id", ka->id, "The command's id")->required();
  set.add(k_cancel, [ka, base](session& s) {
    output(s, s.call("POST", base() + "/" + encode(ka->id) + "/cancel", json::object()),
           print_command);
  });
}

}  // namespace convoy::ctl
