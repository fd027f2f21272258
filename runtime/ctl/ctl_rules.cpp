// `convoy ctl rules`, `archives` and `webhooks`: the telemetry routing rules
// and the sinks they feed.

#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>

#include <CLI/CLI.hpp>

#include "runtime/ctl/area.hpp"

namespace convoy::ctl {

namespace {

void add_rules(CLI::App& ctl, command_set& set) {
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
  set.add(rules_app->add_subcommand("list", "The rules in force and what each matched"),
          [](session& s) {
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
  set.add(r_get, [ra, print_rule](session& s) {
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
  set.add(r_put, [ra, print_rule, properties_of](session& s) {
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
  set.add(r_delete, [ra](session& s) {
    s.call("DELETE", "/api/v1/rules/" + encode(ra->name));
    std::cout << "deleted rule " << ra->name << "\n";
  });
  auto* r_test = rules_app->add_subcommand("test", "Where a message would go (nothing is sent)");
  r_test->add_option("topic", ra->topic, "The message's topic")->required();
  r_test->add_option("payload", ra->payload, "Its payload (text)");
  r_test->add_option("-p,--property", ra->properties, "A user property, NAME=VALUE");
  set.add(r_test, [ra, properties_of](session& s) {
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
}

// Archives and webhooks: those of rules.file and those made over the API.
void add_sinks(CLI::App& ctl, command_set& set) {
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
    auto* list = app->add_subcommand("list", "Those of rules.file and those made over the API");
    set.add(list, [base, hooks](session& s) {
      output(s, s.call("GET", base)["data"], [hooks](const json& d) {
        if (hooks)
          print_rows(d, {{"WEBHOOK", "name"}, {"ORIGIN", "origin"}, {"URL", "url"}});
        else
          print_rows(d, {{"ARCHIVE", "name"}, {"ORIGIN", "origin"}, {"DIRECTORY", "directory"}});
      });
    });
    auto* get = app->add_subcommand("get", "One, with its settings");
    get->add_option("name", sa->name, "Its name")->required();
    set.add(get, [base, sa, print_sink](session& s) {
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
    set.add(put, [base, sa, print_sink](session& s) {
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
    set.add(del, [base, sa, hooks](session& s) {
      s.call("DELETE", base + "/" + encode(sa->name));
      std::cout << "deleted " << (hooks ? "webhook " : "archive ") << sa->name << "\n";
    });
  }
}

}  // namespace

void add_rule_commands(CLI::App& ctl, command_set& set) {
  add_rules(ctl, set);
  add_sinks(ctl, set);
}

}  // namespace convoy::ctl
