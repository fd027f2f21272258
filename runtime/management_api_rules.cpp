// The management API's routing-rule routes: the rules in force with their
// match counts, and a dry run that says where a message would go.

#include <nlohmann/json.hpp>

#include "actors/rule_worker.hpp"
#include "actors/telemetry_rules.hpp"
#include "protocol/base64.hpp"
#include "protocol/topic.hpp"
#include "runtime/api_call.hpp"
#include "runtime/management_api.hpp"

namespace convoy::runtime {

using json = nlohmann::json;

namespace {

json actions_of(const telemetry_rule& r) {
  json out = json::array();
  for (auto [a, name] : {std::pair{rule_action::deliver, "deliver"},
                         {rule_action::state, "state"},
                         {rule_action::archive, "archive"},
                         {rule_action::republish, "republish"},
                         {rule_action::webhook, "webhook"}})
    if (r.has(a)) out.push_back(name);
  return out;
}

json names_of(const rule_set& rules, const std::vector<std::uint32_t>& indexes) {
  json out = json::array();
  for (auto i : indexes)
    out.push_back(rules.rules()[i].name);
  return out;
}

}  // namespace

void management_api::list_rules(std::shared_ptr<call> c) {
  json data = json::array();
  if (const auto rules = broker_->rules ? broker_->rules->current() : nullptr) {
    for (std::size_t i = 0; i < rules->rules().size(); ++i) {
      const auto& r = rules->rules()[i];
      json props = json::object();
      for (const auto& [k, v] : r.properties)
        props[k] = v;
      json where = json::array();
      for (const auto& p : r.where)
        where.push_back(p.text);
      json rule = {{"name", r.name},
                   {"topic", r.filter},
                   {"userProperties", props},
                   {"where", where},
                   {"format", to_string(r.format)},
                   {"actions", actions_of(r)},
                   {"matched", rules->matches(i)}};
      if (!r.archive.empty()) rule["archive"] = r.archive;
      if (!r.webhook.empty()) rule["webhook"] = r.webhook;
      if (!r.republish_topic.empty()) rule["republishTopic"] = r.republish_topic;
      if (!r.subject.empty()) rule["subject"] = r.subject;
      data.push_back(std::move(rule));
    }
  }
  c->reply(200, {{"data", std::move(data)}});
}

// {"topic", "payload", "payloadEncoding": "utf8" | "base64", "contentType",
// "userProperties": {...}}: where the message would go, nothing sent.
void management_api::test_rules(std::shared_ptr<call> c) {
  auto body = c->body_object();
  if (!body) return;
  auto m = std::make_shared<app_message>();
  auto topic = body->find("topic");
  if (topic == body->end() || !topic->is_string())
    return c->fail(400, "\"topic\" is required (a string)");
  m->topic = topic->get<std::string>();
  if (mqtt::validate_topic_name(m->topic) != mqtt::reason_code::success)
    return c->fail(400, "\"topic\" is not a valid topic name");
  std::string payload;
  if (auto p = body->find("payload"); p != body->end()) {
    if (!p->is_string()) return c->fail(400, "\"payload\" must be a string");
    payload = p->get<std::string>();
  }
  if (auto e = body->find("payloadEncoding"); e != body->end()) {
    if (!e->is_string() || (*e != "utf8" && *e != "base64"))
      return c->fail(400, "\"payloadEncoding\" must be utf8 or base64");
    if (*e == "base64") {
      auto decoded = base64_decode(payload);
      if (!decoded) return c->fail(400, "\"payload\" is not valid base64");
      payload = std::move(*decoded);
    }
  }
  if (auto t = body->find("contentType"); t != body->end()) {
    if (!t->is_string()) return c->fail(400, "\"contentType\" must be a string");
    m->props.add(mqtt::property_id::content_type, t->get<std::string>());
  }
  if (auto u = body->find("userProperties"); u != body->end()) {
    if (!u->is_object()) return c->fail(400, "\"userProperties\" must be an object of strings");
    for (const auto& [k, v] : u->items()) {
      if (!v.is_string()) return c->fail(400, "\"userProperties\" values must be strings");
      m->props.add_user_property(k, v.get<std::string>());
    }
  }
  m->payload = std::make_shared<const std::string>(std::move(payload));
  const bool state_on = !broker_->state_shards.empty();
  const auto rules = broker_->rules ? broker_->rules->current() : nullptr;
  routing_decision d =
      rules ? rules->decide(*m, state_on, false) : rule_set::unmatched(*m, state_on);
  json out = {{"deliver", d.deliver}, {"state", d.state}};
  if (rules) {
    // The rules by name; their destinations by archive, topic and webhook.
    out["matched"] = names_of(*rules, d.matched_rules);
    out["archive"] = json::array();
    for (auto i : d.archive_rules)
      out["archive"].push_back(rules->rules()[i].archive);
    out["republish"] = json::array();
    for (auto i : d.republish_rules)
      out["republish"].push_back(republish_topic(rules->rules()[i].republish_topic, m->topic));
    out["webhook"] = json::array();
    for (auto i : d.webhook_rules)
      out["webhook"].push_back(rules->rules()[i].webhook);
  } else {
    for (const char* k : {"matched", "archive", "republish", "webhook"})
      out[k] = json::array();
  }
  c->reply(200, out);
}

}  // namespace convoy::runtime
