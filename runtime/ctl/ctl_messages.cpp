// `convoy ctl publish` and `retained`: messages published as the broker, and
// the retained messages of the topics.

#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "runtime/ctl/area.hpp"

namespace convoy::ctl {

namespace {

// /api/v1/retained/ and the topic's levels, each percent-encoded: the API
// takes the topic as the rest of the path.
std::string retained_path(const std::string& topic) {
  std::string path = "/api/v1/retained";
  std::size_t start = 0;
  for (;;) {
    auto slash = topic.find('/', start);
    path += "/" + encode(topic.substr(start, slash - start));
    if (slash == std::string::npos) return path;
    start = slash + 1;
  }
}

}  // namespace

void add_message_commands(CLI::App& ctl, command_set& set) {
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
  set.add(publish, [pub](session& s) {
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
  set.add(ret_list, [ret, filter](session& s) {
    json data = s.list("/api/v1/retained",
                       {{"filter", *filter}, {"limit", std::to_string(ret->limit)}}, ret->all);
    output(s, data, [](const json& d) {
      print_rows(d, {{"TOPIC", "topic"}, {"QOS", "qos"}, {"PAYLOAD", "payload"}});
    });
  });
  auto topic = std::make_shared<std::string>();
  auto* ret_get = retained->add_subcommand("get", "The retained message of a topic");
  ret_get->add_option("topic", *topic, "Topic, e.g. fleet/weather/eu")->required();
  set.add(ret_get, [topic](session& s) {
    output(s, s.call("GET", retained_path(*topic)), [](const json& m) {
      print_fields(m, {{"topic", "topic"},
                       {"qos", "qos"},
                       {"encoding", "payloadEncoding"},
                       {"content type", "contentType"},
                       {"payload", "payload"}});
    });
  });
  auto* ret_delete = retained->add_subcommand("delete", "Clear the retained message of a topic");
  ret_delete->add_option("topic", *topic, "Topic, e.g. fleet/weather/eu")->required();
  set.add(ret_delete, [topic](session& s) {
    s.call("DELETE", retained_path(*topic));
    std::cout << "cleared the retained message of " << *topic << "\n";
  });
}

}  // namespace convoy::ctl
