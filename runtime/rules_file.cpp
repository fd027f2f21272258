#include "runtime/rules_file.hpp"

#include <algorithm>
#include <set>

#include "runtime/rule_definition.hpp"
#include "runtime/toml_file.hpp"

namespace convoy::runtime {

namespace {

[[noreturn]] void fail(const std::string& name, const toml::node* at, const std::string& what) {
  toml_fail<rules_file_error>(name, at, what);
}

void only_keys(const std::string& name, const toml::table& t, const std::string& where,
               std::initializer_list<std::string_view> known) {
  for (const auto& [k, v] : t) {
    if (std::find(known.begin(), known.end(), k.str()) != known.end()) continue;
    std::string list;
    for (auto key : known)
      list += (list.empty() ? "" : ", ") + std::string{key};
    fail(name, &v, "unknown key '" + where + std::string{k.str()} + "' (known: " + list + ")");
  }
}

std::string text(const std::string& name, const toml::table& t, const std::string& where,
                 std::string_view key, bool required) {
  const toml::node* n = t.get(key);
  if (!n) {
    if (required) fail(name, &t, "'" + where + std::string{key} + "' is required");
    return {};
  }
  if (!n->as_string()) fail(name, n, "'" + where + std::string{key} + "' must be a string");
  return n->as_string()->get();
}

std::vector<std::string> strings(const std::string& name, const toml::table& t,
                                 const std::string& where, std::string_view key) {
  return toml_strings<rules_file_error>(name, t, where, key);
}

std::int64_t integer(const std::string& name, const toml::table& t, const std::string& where,
                     std::string_view key, std::int64_t fallback, std::int64_t low,
                     std::int64_t high) {
  const toml::node* n = t.get(key);
  if (!n) return fallback;
  const auto* v = n->as_integer();
  if (!v || v->get() < low || v->get() > high)
    fail(name, n,
         "'" + where + std::string{key} + "' must be an integer from " + std::to_string(low) +
             " to " + std::to_string(high));
  return v->get();
}

bool boolean(const std::string& name, const toml::table& t, const std::string& where,
             std::string_view key, bool fallback) {
  const toml::node* n = t.get(key);
  if (!n) return fallback;
  if (!n->as_boolean()) fail(name, n, "'" + where + std::string{key} + "' must be true or false");
  return n->as_boolean()->get();
}

archive_spec parse_archive(const std::string& name, const std::string& archive,
                           const toml::table& t) {
  std::string where = "archive." + archive + ".";
  only_keys(name, t, where,
            {"gzip", "max_segment_bytes", "max_segment_seconds", "flush_ms", "sync",
             "max_pending_bytes"});
  archive_spec a;
  a.name = archive;
  a.gzip = boolean(name, t, where, "gzip", false);
  a.max_segment_bytes = static_cast<std::uint64_t>(
      integer(name, t, where, "max_segment_bytes", 64ll << 20, 4096, 1ll << 40));
  a.max_segment_seconds = static_cast<std::uint32_t>(
      integer(name, t, where, "max_segment_seconds", 3600, 1, 30ll * 86'400));
  a.flush_ms = static_cast<std::uint32_t>(integer(name, t, where, "flush_ms", 200, 1, 60'000));
  a.sync = boolean(name, t, where, "sync", true);
  a.max_pending_bytes = static_cast<std::size_t>(
      integer(name, t, where, "max_pending_bytes", 16ll << 20, 1ll << 16, 1ll << 32));
  return a;
}

webhook_spec parse_webhook(const std::string& name, const std::string& hook, const toml::table& t) {
  std::string where = "webhook." + hook + ".";
  only_keys(name, t, where,
            {"url", "ca_file", "batch_size", "batch_ms", "max_queue", "timeout_ms",
             "retry_initial_ms", "retry_max_ms"});
  webhook_spec w;
  w.name = hook;
  w.url = text(name, t, where, "url", true);
  const auto host_at = w.url.starts_with("https://") ? 8u : w.url.starts_with("http://") ? 7u : 0u;
  if (host_at == 0 || w.url.size() <= host_at || w.url[host_at] == '/')
    fail(name, t.get("url"), "'" + where + "url' must be an http:// or https:// URL with a host");
  w.ca_file = text(name, t, where, "ca_file", false);
  if (!w.ca_file.empty() && host_at != 8)
    fail(name, t.get("ca_file"), "'" + where + "ca_file' is for https:// URLs");
  auto u32 = [&](std::string_view key, std::int64_t fallback, std::int64_t low, std::int64_t high) {
    return static_cast<std::uint32_t>(integer(name, t, where, key, fallback, low, high));
  };
  w.batch_size = u32("batch_size", 100, 1, 100'000);
  w.batch_ms = u32("batch_ms", 1000, 1, 600'000);
  w.max_queue = u32("max_queue", 10'000, 1, 10'000'000);
  w.timeout_ms = u32("timeout_ms", 5000, 100, 600'000);
  w.retry_initial_ms = u32("retry_initial_ms", 500, 10, 600'000);
  w.retry_max_ms = u32("retry_max_ms", 30'000, 10, 3'600'000);
  if (w.retry_max_ms < w.retry_initial_ms)
    fail(name, t.get("retry_max_ms"),
         "'" + where + "retry_max_ms' must not be below retry_initial_ms");
  return w;
}

}  // namespace

rules_file parse_rules_file(std::string_view text_in, const std::string& name) {
  toml::table root = toml_parse<rules_file_error>(text_in, name);
  for (const auto& [key, value] : root)
    if (key.str() != "rule" && key.str() != "archive" && key.str() != "webhook")
      fail(name, &value,
           "unknown table '" + std::string{key.str()} + "' (known: rule, archive, webhook)");
  rules_file out;
  if (const toml::node* archives = root.get("archive")) {
    const toml::table* t = archives->as_table();
    if (!t) fail(name, archives, "'archive' must hold [archive.NAME] tables");
    for (const auto& [key, value] : *t) {
      std::string archive{key.str()};
      if (!valid_definition_name(archive))
        fail(name, &value, "archive name '" + archive + "' must be letters, digits, '-' or '_'");
      const toml::table* spec = value.as_table();
      if (!spec) fail(name, &value, "'archive." + archive + "' must be a table");
      out.archives.push_back(parse_archive(name, archive, *spec));
    }
  }
  if (const toml::node* hooks = root.get("webhook")) {
    const toml::table* t = hooks->as_table();
    if (!t) fail(name, hooks, "'webhook' must hold [webhook.NAME] tables");
    for (const auto& [key, value] : *t) {
      std::string hook{key.str()};
      if (!valid_definition_name(hook))
        fail(name, &value, "webhook name '" + hook + "' must be letters, digits, '-' or '_'");
      const toml::table* spec = value.as_table();
      if (!spec) fail(name, &value, "'webhook." + hook + "' must be a table");
      out.webhooks.push_back(parse_webhook(name, hook, *spec));
    }
  }
  const toml::node* rules = root.get("rule");
  if (!rules) return out;
  const toml::array* list = rules->as_array();
  if (!list || !list->is_array_of_tables()) fail(name, rules, "'rule' must be [[rule]] tables");
  std::set<std::string> names;
  const known_sinks sinks = sinks_of(out);  // the archives and webhooks read above
  for (std::size_t i = 0; i < list->size(); ++i) {
    const toml::table& t = *list->get(i)->as_table();
    std::string where = "rule[" + std::to_string(i) + "].";
    only_keys(name, t, where,
              {"name", "topic", "user_properties", "where", "format", "actions", "archive",
               "republish_topic", "subject", "webhook"});
    telemetry_rule r;
    r.name = text(name, t, where, "name", true);
    if (!valid_definition_name(r.name))
      fail(name, &t, "'" + where + "name' must be 1 to 64 letters, digits, '-' or '_'");
    if (!names.insert(r.name).second) fail(name, &t, "two rules are named '" + r.name + "'");
    // Keys in type errors as rule[i].key; what is wrong with the rule as "rule 'x': ...".
    const std::string said = "rule '" + r.name + "': ";
    r.filter = text(name, t, where, "topic", false);
    if (const toml::node* props = t.get("user_properties")) {
      const toml::table* pt = props->as_table();
      if (!pt) fail(name, props, said + "'user_properties' must be a table of strings");
      for (const auto& [k, v] : *pt) {
        if (!v.as_string())
          fail(name, &v, said + "user property '" + std::string{k.str()} + "' must be a string");
        r.properties.emplace_back(std::string{k.str()}, v.as_string()->get());
      }
    }
    for (const auto& p : strings(name, t, where, "where")) {
      std::string error;
      auto predicate = payload_predicate::parse(p, error);
      if (!predicate) fail(name, t.get("where"), said + "'" + p + "': " + error);
      r.where.push_back(std::move(*predicate));
    }
    if (auto f = text(name, t, where, "format", false); !f.empty()) {
      auto parsed = parse_payload_format(f);
      if (!parsed)
        fail(name, t.get("format"),
             said + "'format' must be auto, json, gzip-json or msgpack, not '" + f + "'");
      r.format = *parsed;
    }
    for (const auto& a : strings(name, t, where, "actions")) {
      auto parsed = rule_action_named(a);
      if (!parsed)
        fail(name, t.get("actions"),
             said + "unknown action '" + a + "' (known: " + std::string{known_rule_actions} + ")");
      r.actions |= static_cast<std::uint8_t>(*parsed);
    }
    r.archive = text(name, t, where, "archive", false);
    r.republish_topic = text(name, t, where, "republish_topic", false);
    r.subject = text(name, t, where, "subject", false);
    r.webhook = text(name, t, where, "webhook", false);
    if (auto problem = check_rule(r, sinks, key_style::toml)) {
      const toml::node* at = t.get(problem->key);
      fail(name, at ? at : &t, said + problem->message);
    }
    out.rules.push_back(std::move(r));
  }
  return out;
}

known_sinks sinks_of(const rules_file& file) {
  known_sinks s;
  s.archive = [&file](const std::string& n) {
    return std::any_of(file.archives.begin(), file.archives.end(),
                       [&](const archive_spec& a) { return a.name == n; });
  };
  s.webhook = [&file](const std::string& n) {
    return std::any_of(file.webhooks.begin(), file.webhooks.end(),
                       [&](const webhook_spec& w) { return w.name == n; });
  };
  return s;
}

rules_file load_rules_file(const std::string& path) {
  return parse_rules_file(
      toml_read<rules_file_error>(path, "rules.file " + path + " cannot be read"), path);
}

}  // namespace convoy::runtime
