#include "runtime/rule_definition.hpp"

#include <algorithm>
#include <cctype>

#include "actors/rule_worker.hpp"
#include "protocol/topic.hpp"

namespace convoy::runtime {

using json = nlohmann::json;

bool valid_definition_name(std::string_view s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_';
  });
}

std::optional<rule_action> rule_action_named(std::string_view s) {
  if (s == "deliver") return rule_action::deliver;
  if (s == "state") return rule_action::state;
  if (s == "archive") return rule_action::archive;
  if (s == "republish") return rule_action::republish;
  if (s == "webhook") return rule_action::webhook;
  return std::nullopt;
}

std::string key_name(std::string_view toml_key, key_style style) {
  if (style == key_style::toml) return std::string{toml_key};
  std::string out;
  bool upper = false;
  for (char ch : toml_key) {
    if (ch == '_') {
      upper = true;
      continue;
    }
    out += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(ch))) : ch;
    upper = false;
  }
  return out;
}

std::optional<rule_problem> check_rule(const telemetry_rule& r, const known_sinks& sinks,
                                       key_style style) {
  auto q = [style](std::string_view key) { return "'" + key_name(key, style) + "'"; };
  auto problem = [](std::string key, std::string message) {
    return std::optional<rule_problem>{rule_problem{std::move(key), std::move(message)}};
  };
  if (!valid_definition_name(r.name))
    return problem("name", q("name") + " must be 1 to 64 letters, digits, '-' or '_'");
  if (r.filter.empty()) return problem("topic", q("topic") + " is required");
  if (mqtt::validate_topic_filter(r.filter) != mqtt::reason_code::success ||
      r.filter.starts_with("$"))
    return problem("topic", q("topic") + " must be a topic filter (not $ or $share)");
  if (r.actions == 0) return problem("actions", q("actions") + " is required (a non-empty array)");
  if (r.has(rule_action::archive)) {
    if (r.archive.empty())
      return problem("archive", "the archive action needs " + q("archive") + " (a name)");
    if (!sinks.archive || !sinks.archive(r.archive))
      return problem("archive", "there is no archive '" + r.archive + "'");
  } else if (!r.archive.empty()) {
    return problem("archive", q("archive") + " is set but " + q("actions") + " has no archive");
  }
  if (r.has(rule_action::republish)) {
    if (r.republish_topic.empty())
      return problem("republish_topic", "the republish action needs " + q("republish_topic"));
    if (republish_topic(r.republish_topic, "vehicles/V/telemetry/x").empty() ||
        r.republish_topic.find("{vin}") == std::string::npos)
      return problem("republish_topic", q("republish_topic") +
                                            " must be a topic name with {vin} (and optionally "
                                            "{topic})");
    if (!r.filter.starts_with("vehicles/"))
      return problem("topic", "republish rules match vehicles/{vin}/... topics");
  } else if (!r.republish_topic.empty() || !r.subject.empty()) {
    return problem("republish_topic", q("republish_topic") + " and " + q("subject") +
                                          " belong to the republish action");
  }
  if (r.has(rule_action::webhook)) {
    if (r.webhook.empty())
      return problem("webhook", "the webhook action needs " + q("webhook") + " (a name)");
    if (!sinks.webhook || !sinks.webhook(r.webhook))
      return problem("webhook", "there is no webhook '" + r.webhook + "'");
  } else if (!r.webhook.empty()) {
    return problem("webhook", q("webhook") + " is set but " + q("actions") + " has no webhook");
  }
  return std::nullopt;
}

json rule_to_json(const telemetry_rule& r) {
  json actions = json::array();
  for (auto [a, name] : {std::pair{rule_action::deliver, "deliver"},
                         {rule_action::state, "state"},
                         {rule_action::archive, "archive"},
                         {rule_action::republish, "republish"},
                         {rule_action::webhook, "webhook"}})
    if (r.has(a)) actions.push_back(name);
  json props = json::object();
  for (const auto& [k, v] : r.properties)
    props[k] = v;
  json where = json::array();
  for (const auto& p : r.where)
    where.push_back(p.text);
  json out = {{"name", r.name},
              {"topic", r.filter},
              {"userProperties", props},
              {"where", where},
              {"format", to_string(r.format)},
              {"actions", std::move(actions)}};
  if (!r.archive.empty()) out["archive"] = r.archive;
  if (!r.webhook.empty()) out["webhook"] = r.webhook;
  if (!r.republish_topic.empty()) out["republishTopic"] = r.republish_topic;
  if (!r.subject.empty()) out["subject"] = r.subject;
  return out;
}

std::optional<telemetry_rule> rule_from_json(const std::string& name, const json& j,
                                             const known_sinks& sinks, std::string& error) {
  static constexpr std::string_view known[] = {
      "name",    "topic",          "userProperties", "where",   "format",  "actions",
      "archive", "republishTopic", "subject",        "webhook", "matched", "origin"};
  auto fail = [&](std::string why) {
    error = "rule '" + name + "': " + std::move(why);
    return std::nullopt;
  };
  if (!j.is_object()) return fail("the body must be a JSON object");
  for (const auto& [k, v] : j.items())
    if (std::find(std::begin(known), std::end(known), k) == std::end(known))
      return fail("unknown key \"" + k +
                  "\" (known: topic, userProperties, where, format, actions, archive, "
                  "republishTopic, subject, webhook)");
  telemetry_rule r;
  r.name = name;
  if (auto n = j.find("name"); n != j.end() && (!n->is_string() || *n != name))
    return fail("\"name\" must be the name in the path, '" + name + "'");
  auto text = [&](const char* key, std::string& into) {
    auto it = j.find(key);
    if (it == j.end()) return true;
    if (!it->is_string()) return false;
    into = it->get<std::string>();
    return true;
  };
  for (auto [key, into] : {std::pair{"topic", &r.filter},
                           {"archive", &r.archive},
                           {"republishTopic", &r.republish_topic},
                           {"subject", &r.subject},
                           {"webhook", &r.webhook}})
    if (!text(key, *into)) return fail("\"" + std::string{key} + "\" must be a string");
  if (auto p = j.find("userProperties"); p != j.end()) {
    if (!p->is_object()) return fail("\"userProperties\" must be an object of strings");
    for (const auto& [k, v] : p->items()) {
      if (!v.is_string()) return fail("user property '" + k + "' must be a string");
      r.properties.emplace_back(k, v.get<std::string>());
    }
  }
  if (auto w = j.find("where"); w != j.end()) {
    if (!w->is_array()) return fail("\"where\" must be an array of strings");
    for (const auto& p : *w) {
      if (!p.is_string()) return fail("\"where\" must be an array of strings");
      std::string why;
      auto predicate = payload_predicate::parse(p.get<std::string>(), why);
      if (!predicate) return fail("'" + p.get<std::string>() + "': " + why);
      r.where.push_back(std::move(*predicate));
    }
  }
  if (auto f = j.find("format"); f != j.end()) {
    auto parsed = f->is_string() ? parse_payload_format(f->get<std::string>()) : std::nullopt;
    if (!parsed) return fail("\"format\" must be auto, json, gzip-json or msgpack");
    r.format = *parsed;
  }
  if (auto a = j.find("actions"); a != j.end()) {
    if (!a->is_array()) return fail("\"actions\" must be an array of strings");
    for (const auto& action : *a) {
      auto parsed =
          action.is_string() ? rule_action_named(action.get<std::string>()) : std::nullopt;
      if (!parsed)
        return fail("unknown action " + action.dump() +
                    " (known: " + std::string{known_rule_actions} + ")");
      r.actions |= static_cast<std::uint8_t>(*parsed);
    }
  }
  if (auto problem = check_rule(r, sinks, key_style::json)) return fail(problem->message);
  return r;
}

}  // namespace convoy::runtime
