// `convoy ctl consents`: the consents that let services have a vehicle's
// data or run its commands.

#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "runtime/ctl/area.hpp"

namespace convoy::ctl {

void add_consent_commands(CLI::App& ctl, command_set& set) {
  auto* consents = ctl.add_subcommand("consents", "Consents: grant, list, check, revoke");
  consents->require_subcommand(1);
  struct consent_args {
    std::string vin, subject, purpose, topic, command;
    std::uint64_t ttl = 0;
  };
  auto ca = std::make_shared<consent_args>();
  auto base = [ca] { return "/api/v1/vehicles/" + encode(ca->vin) + "/consents"; };
  auto* c_grant = consents->add_subcommand("grant", "Let a service have data or run commands");
  c_grant->add_option("vin", ca->vin, "VIN")->required();
  c_grant->add_option("subject", ca->subject, "The service's identity")->required();
  c_grant->add_option("purpose", ca->purpose, "A purpose (see `consents purposes`)")->required();
  c_grant->add_option("--ttl", ca->ttl, "Seconds until it expires (default: until revoked)");
  set.add(c_grant, [ca, base](session& s) {
    json body{{"subject", ca->subject}, {"purpose", ca->purpose}};
    if (ca->ttl > 0) body["ttlSeconds"] = ca->ttl;
    output(s, s.call("POST", base(), body), [](const json& c) {
      print_fields(c, {{"vin", "vin"},
                       {"subject", "subject"},
                       {"purpose", "purpose"},
                       {"granted", "grantedAt"},
                       {"expires", "expiresAt"},
                       {"granted by", "grantedBy"}});
    });
  });
  auto* c_list = consents->add_subcommand("list", "A vehicle's consents in force");
  c_list->add_option("vin", ca->vin, "VIN")->required();
  set.add(c_list, [base](session& s) {
    json data = s.list(base(), {}, true);
    output(s, data, [](const json& d) {
      print_rows(d, {{"SUBJECT", "subject"},
                     {"PURPOSE", "purpose"},
                     {"GRANTED", "grantedAt"},
                     {"EXPIRES", "expiresAt"},
                     {"BY", "grantedBy"}});
    });
  });
  auto* c_check = consents->add_subcommand("check", "May a service have a topic or run a command?");
  c_check->add_option("vin", ca->vin, "VIN")->required();
  c_check->add_option("subject", ca->subject, "The service's identity")->required();
  c_check->add_option("--topic", ca->topic, "A telemetry topic");
  c_check->add_option("--command", ca->command, "A command name");
  set.add(c_check, [ca, base](session& s) {
    std::string q = "?subject=" + encode(ca->subject);
    if (!ca->topic.empty()) q += "&topic=" + encode(ca->topic);
    if (!ca->command.empty()) q += "&command=" + encode(ca->command);
    output(s, s.call("GET", base() + "/check" + q), [](const json& r) {
      if (r["allowed"].get<bool>())
        std::cout << "allowed (purpose " << r["purpose"].get<std::string>() << ")\n";
      else
        std::cout << "not allowed: " << r["reason"].get<std::string>() << "\n";
    });
  });
  auto* c_revoke = consents->add_subcommand("revoke", "Revoke a consent; it stops at once");
  c_revoke->add_option("vin", ca->vin, "VIN")->required();
  c_revoke->add_option("subject", ca->subject, "The service's identity")->required();
  c_revoke->add_option("purpose", ca->purpose, "The purpose")->required();
  set.add(c_revoke, [ca, base](session& s) {
    s.call("DELETE", base() + "/" + encode(ca->subject) + "/" + encode(ca->purpose));
    std::cout << "revoked: " << ca->subject << " for " << ca->purpose << "\n";
  });
  auto* c_purposes = consents->add_subcommand("purposes", "The purposes consents are given for");
  set.add(c_purposes, [](session& s) {
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
}

}  // namespace convoy::ctl
