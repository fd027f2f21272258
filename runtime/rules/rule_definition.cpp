#include "runtime/rules/rule_definition.hpp"

#include <algorithm>
#include <cctype>

#include "actors/rules/rule_worker.hpp"
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
  // The archive and webhook actions name what they feed, and only they do.
  auto named = [&](rule_action action, const std::string& key, const std::string& value,
                   const std::function<bool(const std::string&)>& known) {
    if (r.has(action)) {
      if (value.empty())
        return problem(key, "the " + key + " action needs " + q(key) + " (a name)");
      if (!known || !known(value)) return problem(key, "there is no " + key + " '" + value + "'");
    } else if (!value.empty()) {
      return problem(key, q(key) + " is set but " + q("actions") + " has no " + key);
    }
    return std::optional<rule_problem>{};
  };
  if (auto p = named(rule_action::archive, "archive", r.archive, sinks.archive)) return p;
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
  if (auto p = named(rule_action::webhook, "webhook", r.webhook, sinks.webhook)) return p;
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

namespace {

std::int64_t bounded(definition_reader& in, std::string_view key, std::int64_t fallback,
                     std::int64_t low, std::int64_t high) {
  auto v = in.integer(key);
  if (!v) return fallback;
  if (*v < low || *v > high)
    in.fail(key, in.quote(key) + " must be an integer from " + std::to_string(low) + " to " +
                     std::to_string(high));
  return *v;
}

}  // namespace

archive_spec read_archive(const std::string& name, definition_reader& in) {
  in.only({"gzip", "max_segment_bytes", "max_segment_seconds", "flush_ms", "sync",
           "max_pending_bytes"});
  archive_spec a;
  a.name = name;
  a.gzip = in.boolean("gzip").value_or(false);
  a.max_segment_bytes =
      static_cast<std::uint64_t>(bounded(in, "max_segment_bytes", 64ll << 20, 4096, 1ll << 40));
  a.max_segment_seconds =
      static_cast<std::uint32_t>(bounded(in, "max_segment_seconds", 3600, 1, 30ll * 86'400));
  a.flush_ms = static_cast<std::uint32_t>(bounded(in, "flush_ms", 200, 1, 60'000));
  a.sync = in.boolean("sync").value_or(true);
  a.max_pending_bytes =
      static_cast<std::size_t>(bounded(in, "max_pending_bytes", 16ll << 20, 1ll << 16, 1ll << 32));
  return a;
}

webhook_spec read_webhook(const std::string& name, definition_reader& in) {
  in.only({"url", "ca_file", "batch_size", "batch_ms", "max_queue", "timeout_ms",
           "retry_initial_ms", "retry_max_ms"});
  webhook_spec w;
  w.name = name;
  auto url = in.text("url");
  if (!url) in.fail("url", in.quote("url") + " is required");
  w.url = *url;
  const auto host_at = w.url.starts_with("https://") ? 8u : w.url.starts_with("http://") ? 7u : 0u;
  if (host_at == 0 || w.url.size() <= host_at || w.url[host_at] == '/')
    in.fail("url", in.quote("url") + " must be an http:// or https:// URL with a host");
  w.ca_file = in.text("ca_file").value_or("");
  if (!w.ca_file.empty() && host_at != 8)
    in.fail("ca_file", in.quote("ca_file") + " is for https:// URLs");
  auto u32 = [&](std::string_view key, std::int64_t fallback, std::int64_t low, std::int64_t high) {
    return static_cast<std::uint32_t>(bounded(in, key, fallback, low, high));
  };
  w.batch_size = u32("batch_size", 100, 1, 100'000);
  w.batch_ms = u32("batch_ms", 1000, 1, 600'000);
  w.max_queue = u32("max_queue", 10'000, 1, 10'000'000);
  w.timeout_ms = u32("timeout_ms", 5000, 100, 600'000);
  w.retry_initial_ms = u32("retry_initial_ms", 500, 10, 600'000);
  w.retry_max_ms = u32("retry_max_ms", 30'000, 10, 3'600'000);
  if (w.retry_max_ms < w.retry_initial_ms)
    in.fail("retry_max_ms",
            in.quote("retry_max_ms") + " must not be below " + in.quote("retry_initial_ms"));
  return w;
}

const json* json_definition_reader::find(std::string_view key) const {
  auto it = j_.find(key_name(key, key_style::json));
  return it == j_.end() ? nullptr : &*it;
}

void json_definition_reader::only(std::initializer_list<std::string_view> known) {
  for (const auto& [k, v] : j_.items()) {
    bool ok = k == "name" || k == "origin" || k == "directory";  // shown by GET, ignored
    for (auto key : known)
      ok = ok || k == key_name(key, key_style::json);
    if (ok) continue;
    std::string list;
    for (auto key : known)
      list += (list.empty() ? "" : ", ") + key_name(key, key_style::json);
    fail({}, "unknown key \"" + k + "\" (known: " + list + ")");
  }
}

std::optional<std::string> json_definition_reader::text(std::string_view key) {
  const json* v = find(key);
  if (!v) return std::nullopt;
  if (!v->is_string()) fail(key, quote(key) + " must be a string");
  return v->get<std::string>();
}

std::optional<std::int64_t> json_definition_reader::integer(std::string_view key) {
  const json* v = find(key);
  if (!v) return std::nullopt;
  if (!v->is_number_integer()) fail(key, quote(key) + " must be an integer");
  return v->get<std::int64_t>();
}

std::optional<bool> json_definition_reader::boolean(std::string_view key) {
  const json* v = find(key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) fail(key, quote(key) + " must be true or false");
  return v->get<bool>();
}

void json_definition_reader::fail(std::string_view, const std::string& what) {
  throw definition_error(what);
}

std::string json_definition_reader::quote(std::string_view key) const {
  return "\"" + key_name(key, key_style::json) + "\"";
}

json archive_to_json(const archive_spec& a) {
  return {{"name", a.name},
          {"directory", a.directory},
          {"gzip", a.gzip},
          {"maxSegmentBytes", a.max_segment_bytes},
          {"maxSegmentSeconds", a.max_segment_seconds},
          {"flushMs", a.flush_ms},
          {"sync", a.sync},
          {"maxPendingBytes", a.max_pending_bytes}};
}

json webhook_to_json(const webhook_spec& w) {
  json out = {{"name", w.name},
              {"url", w.url},
              {"batchSize", w.batch_size},
              {"batchMs", w.batch_ms},
              {"maxQueue", w.max_queue},
              {"timeoutMs", w.timeout_ms},
              {"retryInitialMs", w.retry_initial_ms},
              {"retryMaxMs", w.retry_max_ms}};
  if (!w.ca_file.empty()) out["caFile"] = w.ca_file;
  return out;
}

}  // namespace convoy::runtime
