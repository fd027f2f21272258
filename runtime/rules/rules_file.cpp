#include "runtime/rules/rules_file.hpp"

#include <algorithm>
#include <set>

#include "runtime/node/toml_file.hpp"
#include "runtime/rules/rule_definition.hpp"

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

bool boolean(const std::string& name, const toml::table& t, const std::string& where,
             std::string_view key, bool fallback) {
  const toml::node* n = t.get(key);
  if (!n) return fallback;
  if (!n->as_boolean()) fail(name, n, "'" + where + std::string{key} + "' must be true or false");
  return n->as_boolean()->get();
}

// A [archive.NAME] or [webhook.NAME] table as a definition_reader.
class toml_definition_reader : public definition_reader {
 public:
  toml_definition_reader(const std::string& file, const toml::table& t, std::string where)
      : file_(file), t_(t), where_(std::move(where)) {}
  void only(std::initializer_list<std::string_view> known) override {
    only_keys(file_, t_, where_, known);
  }
  std::optional<std::string> text(std::string_view key) override {
    if (!t_.get(key)) return std::nullopt;
    return runtime::text(file_, t_, where_, key, false);
  }
  std::optional<std::int64_t> integer(std::string_view key) override {
    const toml::node* n = t_.get(key);
    if (!n) return std::nullopt;
    if (!n->as_integer()) fail(key, quote(key) + " must be an integer");
    return n->as_integer()->get();
  }
  std::optional<bool> boolean(std::string_view key) override {
    if (!t_.get(key)) return std::nullopt;
    return runtime::boolean(file_, t_, where_, key, false);
  }
  [[noreturn]] void fail(std::string_view key, const std::string& what) override {
    const toml::node* at = key.empty() ? nullptr : t_.get(key);
    runtime::fail(file_, at ? at : &t_, what);
  }
  std::string quote(std::string_view key) const override {
    return "'" + where_ + std::string{key} + "'";
  }

 private:
  const std::string& file_;
  const toml::table& t_;
  std::string where_;
};

}  // namespace

rules_file parse_rules_file(std::string_view text_in, const std::string& name) {
  toml::table root = toml_parse<rules_file_error>(text_in, name);
  for (const auto& [key, value] : root)
    if (key.str() != "rule" && key.str() != "archive" && key.str() != "webhook")
      fail(name, &value,
           "unknown table '" + std::string{key.str()} + "' (known: rule, archive, webhook)");
  rules_file out;
  // [archive.NAME] and [webhook.NAME] tables, each read by its reader.
  auto definitions = [&](const std::string& kind, auto read, auto& into) {
    const toml::node* node = root.get(kind);
    if (!node) return;
    const toml::table* t = node->as_table();
    if (!t) fail(name, node, "'" + kind + "' must hold [" + kind + ".NAME] tables");
    for (const auto& [key, value] : *t) {
      std::string defined{key.str()};
      if (!valid_definition_name(defined))
        fail(name, &value, kind + " name '" + defined + "' must be letters, digits, '-' or '_'");
      const toml::table* spec = value.as_table();
      if (!spec) fail(name, &value, "'" + kind + "." + defined + "' must be a table");
      toml_definition_reader in{name, *spec, kind + "." + defined + "."};
      into.push_back(read(defined, in));
    }
  };
  definitions("archive", read_archive, out.archives);
  definitions("webhook", read_webhook, out.webhooks);
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
