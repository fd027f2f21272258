#pragma once

// What makes a routing rule well formed, whichever way it is written:
// rules.file (TOML, runtime/rules/rules_file) or the management API (JSON, here).
// Both readers fill a telemetry_rule field by field and then ask
// check_rule, so a rule is accepted or refused for the same reasons.

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "actors/rules/archive_writer.hpp"
#include "actors/rules/telemetry_rules.hpp"
#include "actors/rules/webhook.hpp"

namespace convoy::runtime {

// Names of rules, archives and webhooks: 1 to 64 letters, digits, '-', '_'.
bool valid_definition_name(std::string_view s);

std::optional<rule_action> rule_action_named(std::string_view s);
inline constexpr std::string_view known_rule_actions =
    "deliver, state, archive, republish, webhook";

// How a problem names the key it is about: as rules.file spells it
// (republish_topic) or as the API does (republishTopic).
enum class key_style { toml, json };
std::string key_name(std::string_view toml_key, key_style style);

struct rule_problem {
  std::string key;  // the rules.file key the problem is about, for its line
  std::string message;
};

// The archives and webhooks a rule may name.
struct known_sinks {
  std::function<bool(const std::string&)> archive;
  std::function<bool(const std::string&)> webhook;
};

// Why r cannot be used, or nullopt: its name, filter, actions and the
// settings that go with each action (archive, webhook, republish topic).
std::optional<rule_problem> check_rule(const telemetry_rule& r, const known_sinks& sinks,
                                       key_style style);

// A rule as the API shows it: {"name", "topic", "userProperties", "where",
// "format", "actions", "archive", "webhook", "republishTopic", "subject"}.
nlohmann::json rule_to_json(const telemetry_rule& r);

// The rule named `name` from the API's JSON; nullopt with `error` set when
// it is not one. "name" may be left out (the path has it); "matched" and
// "origin", which GET adds, are ignored so that a rule read can be written
// back.
std::optional<telemetry_rule> rule_from_json(const std::string& name, const nlohmann::json& j,
                                             const known_sinks& sinks, std::string& error);

// Archives and webhooks are read field by field from a source, a rules.file
// table or an API JSON object, so both are held to the same bounds and
// refused with the same words, in the source's key names.
class definition_reader {
 public:
  virtual ~definition_reader() = default;
  // Refuses keys other than `known` (rules.file spellings).
  virtual void only(std::initializer_list<std::string_view> known) = 0;
  // nullopt when absent; fails when of another type.
  virtual std::optional<std::string> text(std::string_view key) = 0;
  virtual std::optional<std::int64_t> integer(std::string_view key) = 0;
  virtual std::optional<bool> boolean(std::string_view key) = 0;
  [[noreturn]] virtual void fail(std::string_view key, const std::string& what) = 0;
  // The key as the source spells it, quoted: 'archive.cold.flush_ms' or "flushMs".
  virtual std::string quote(std::string_view key) const = 0;
};

archive_spec read_archive(const std::string& name, definition_reader& in);
webhook_spec read_webhook(const std::string& name, definition_reader& in);

// What the API's JSON reader throws: the message says what is wrong.
class definition_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A definition_reader over an API JSON object (camelCase keys); throws
// definition_error.
class json_definition_reader : public definition_reader {
 public:
  explicit json_definition_reader(const nlohmann::json& j) : j_(j) {}
  void only(std::initializer_list<std::string_view> known) override;
  std::optional<std::string> text(std::string_view key) override;
  std::optional<std::int64_t> integer(std::string_view key) override;
  std::optional<bool> boolean(std::string_view key) override;
  [[noreturn]] void fail(std::string_view key, const std::string& what) override;
  std::string quote(std::string_view key) const override;

 private:
  const nlohmann::json* find(std::string_view key) const;
  const nlohmann::json& j_;
};

// An archive or webhook as the API shows it (the archive with the directory
// it writes to).
nlohmann::json archive_to_json(const archive_spec& a);
nlohmann::json webhook_to_json(const webhook_spec& w);

}  // namespace convoy::runtime
