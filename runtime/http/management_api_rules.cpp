// The management API's routing-rule routes: the rules in force with their
// match counts, rules made, replaced and deleted over the API, and a dry
// run that says where a message would go; the archives and webhooks they
// feed, from rules.file and made over the API.

#include <spdlog/spdlog.h>
#include <algorithm>

#include <nlohmann/json.hpp>

#include "actors/rules/rule_worker.hpp"
#include "actors/rules/telemetry_rules.hpp"
#include "protocol/base64.hpp"
#include "protocol/topic.hpp"
#include "runtime/http/actor_ask.hpp"
#include "runtime/http/api_call.hpp"
#include "runtime/http/management_api.hpp"
#include "runtime/rules/rule_book.hpp"
#include "runtime/rules/rule_definition.hpp"
#include "runtime/rules/webhook_client.hpp"

namespace convoy::runtime {

using json = nlohmann::json;

namespace {

json names_of(const rule_set& rules, const std::vector<std::uint32_t>& indexes) {
  json out = json::array();
  for (auto i : indexes)
    out.push_back(rules.rules()[i].name);
  return out;
}

json shown(const rule_set& rules, std::size_t i) {
  json rule = rule_to_json(rules.rules()[i]);
  rule["origin"] = rules.rules()[i].from_api ? "api" : "file";
  rule["matched"] = rules.matches(i);
  return rule;
}

}  // namespace

void management_api::list_rules(std::shared_ptr<call> c) {
  json data = json::array();
  if (const auto rules = broker_->rules ? broker_->rules->current() : nullptr)
    for (std::size_t i = 0; i < rules->rules().size(); ++i)
      data.push_back(shown(*rules, i));
  c->reply(200, {{"data", std::move(data)}});
}

void management_api::get_rule(std::shared_ptr<call> c) {
  const std::string name = c->param("name");
  if (const auto rules = broker_->rules ? broker_->rules->current() : nullptr)
    for (std::size_t i = 0; i < rules->rules().size(); ++i)
      if (rules->rules()[i].name == name) return c->reply(200, shown(*rules, i));
  c->fail(404, "no rule '" + name + "'");
}

// The body is a rule as GET shows it; the rule is stored, and in force for
// the next message, before the answer: 201 for a new rule, 200 when it
// replaced one.
void management_api::put_rule(std::shared_ptr<call> c) {
  if (!rules_) return c->fail(503, "this node has no rule book");
  const std::string name = c->param("name");
  if (!valid_definition_name(name))
    return c->fail(400, "a rule name is 1 to 64 letters, digits, '-' or '_'");
  auto body = c->body_object();
  if (!body) return;
  std::string error;
  auto rule = rule_from_json(name, *body, rules_->sinks(), error);
  if (!rule) return c->fail(400, error);
  json answer = rule_to_json(*rule);
  answer["origin"] = "api";
  spdlog::info("routing rule '{}' put by {}", name, c->who);
  rules_->put(std::move(*rule), [c, answer](rule_book::outcome o) {
    if (o.status >= 300) return c->fail(o.status, o.message);
    c->reply(o.status, answer);
  });
}

void management_api::delete_rule(std::shared_ptr<call> c) {
  if (!rules_) return c->fail(503, "this node has no rule book");
  const std::string name = c->param("name");
  spdlog::info("routing rule '{}' deleted by {}", name, c->who);
  rules_->erase(rule_book::kind::rule, name, [c](rule_book::outcome o) {
    if (o.status >= 300) return c->fail(o.status, o.message);
    c->no_content();
  });
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

// ---- archives and webhooks ----

namespace {

json shown(const archive_spec& a, bool from_api) {
  json j = archive_to_json(a);
  j["origin"] = from_api ? "api" : "file";
  return j;
}

json shown(const webhook_spec& w, bool from_api) {
  json j = webhook_to_json(w);
  j["origin"] = from_api ? "api" : "file";
  return j;
}

template <class Spec>
const std::vector<std::pair<Spec, bool>>& defined(const rule_book::sink_listing& l) {
  if constexpr (std::is_same_v<Spec, archive_spec>)
    return l.archives;
  else
    return l.webhooks;
}

}  // namespace

// Webhooks with how they are doing ("queued", "failing"), asked of their
// actors; archives as defined.
template <class Spec>
void management_api::answer_sinks(std::shared_ptr<call> c, json data, bool one) {
  auto finish = [c, one](json d) {
    if (one) return c->reply(200, d.front());
    c->reply(200, {{"data", std::move(d)}});
  };
  if constexpr (std::is_same_v<Spec, archive_spec>) {
    finish(std::move(data));
  } else {
    std::vector<caf::actor> actors;
    const auto running = rules_->webhook_actors();
    for (const auto& item : data) {
      auto it = std::find_if(running.begin(), running.end(),
                             [&](const auto& r) { return r.first == item["name"]; });
      actors.push_back(it == running.end() ? caf::actor{} : it->second);
    }
    ask_all<webhook_status>(
        system_, actors, webhook_status_request{}, timeout_,
        [finish, data](std::vector<std::optional<webhook_status>> states) mutable {
          for (std::size_t i = 0; i < states.size(); ++i)
            if (states[i]) {
              data[i]["queued"] = states[i]->queued;
              data[i]["failing"] = states[i]->failing;
            }
          finish(std::move(data));
        });
  }
}

template <class Spec>
void management_api::list_sinks(std::shared_ptr<call> c) {
  json data = json::array();
  if (!rules_) return c->reply(200, {{"data", std::move(data)}});
  const auto listing = rules_->sinks_defined();
  for (const auto& [spec, from_api] : defined<Spec>(listing))
    data.push_back(shown(spec, from_api));
  answer_sinks<Spec>(std::move(c), std::move(data), false);
}

template <class Spec>
void management_api::get_sink(std::shared_ptr<call> c) {
  const std::string name = c->param("name");
  const char* what = std::is_same_v<Spec, archive_spec> ? "archive" : "webhook";
  if (rules_) {
    const auto listing = rules_->sinks_defined();
    for (const auto& [spec, from_api] : defined<Spec>(listing))
      if (spec.name == name)
        return answer_sinks<Spec>(std::move(c), json::array({shown(spec, from_api)}), true);
  }
  c->fail(404, "no " + std::string{what} + " '" + name + "'");
}

// The body holds the settings of rules.file's [archive.NAME] or
// [webhook.NAME] in the API's key names; stored, and in use, before the
// answer: 201 for a new one, 200 when it replaced one.
template <class Spec>
void management_api::put_sink(std::shared_ptr<call> c) {
  if (!rules_) return c->fail(503, "this node has no rule book");
  constexpr bool archive = std::is_same_v<Spec, archive_spec>;
  const char* what = archive ? "archive" : "webhook";
  const std::string name = c->param("name");
  if (!valid_definition_name(name))
    return c->fail(400, std::string{"a "} + what + " name is 1 to 64 letters, digits, '-' or '_'");
  auto body = c->body_object();
  if (!body) return;
  if (auto n = body->find("name"); n != body->end() && *n != name)
    return c->fail(400,
                   std::string{what} + " '" + name + "': \"name\" must be the name in the path");
  Spec spec;
  try {
    json_definition_reader in{*body};
    if constexpr (archive) {
      spec = read_archive(name, in);
    } else {
      spec = read_webhook(name, in);
      webhook_client::check(spec);
    }
  } catch (const std::exception& e) {  // definition_error, webhook_url_error
    return c->fail(400, std::string{what} + " '" + name + "': " + e.what());
  }
  spdlog::info("{} '{}' put by {}", what, name, c->who);
  auto book = rules_;
  rules_->put(spec, [c, book, name](rule_book::outcome o) {
    if (o.status >= 300) return c->fail(o.status, o.message);
    const auto listing = book->sinks_defined();
    for (const auto& [s, from_api] : defined<Spec>(listing))
      if (s.name == name) return c->reply(o.status, shown(s, from_api));
    c->fail(409, "it was replaced meanwhile");
  });
}

template <class Spec>
void management_api::delete_sink(std::shared_ptr<call> c) {
  if (!rules_) return c->fail(503, "this node has no rule book");
  constexpr bool archive = std::is_same_v<Spec, archive_spec>;
  const std::string name = c->param("name");
  spdlog::info("{} '{}' deleted by {}", archive ? "archive" : "webhook", name, c->who);
  rules_->erase(archive ? rule_book::kind::archive : rule_book::kind::webhook, name,
                [c](rule_book::outcome o) {
                  if (o.status >= 300) return c->fail(o.status, o.message);
                  c->no_content();
                });
}

template void management_api::list_sinks<archive_spec>(std::shared_ptr<call>);
template void management_api::list_sinks<webhook_spec>(std::shared_ptr<call>);
template void management_api::get_sink<archive_spec>(std::shared_ptr<call>);
template void management_api::get_sink<webhook_spec>(std::shared_ptr<call>);
template void management_api::put_sink<archive_spec>(std::shared_ptr<call>);
template void management_api::put_sink<webhook_spec>(std::shared_ptr<call>);
template void management_api::delete_sink<archive_spec>(std::shared_ptr<call>);
template void management_api::delete_sink<webhook_spec>(std::shared_ptr<call>);

}  // namespace convoy::runtime
