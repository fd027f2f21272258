#pragma once

// What makes a routing rule well formed, whichever way it is written:
// rules.file (TOML, runtime/rules_file) or the management API (JSON, here).
// Both readers fill a telemetry_rule field by field and then ask
// check_rule, so a rule is accepted or refused for the same reasons.

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "actors/telemetry_rules.hpp"

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

}  // namespace convoy::runtime
