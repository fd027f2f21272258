#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "config/config.hpp"

namespace convoy::config {

// The one table of configuration keys. Loading (TOML, environment, --set),
// range checks, `--help-config`, `--print-config` and the example file are all
// driven by it; nothing else knows the keys one by one.

enum class value_type { string, integer, boolean };

// A typed value as read from any source. Integers of every width travel as
// int64 (all fields are at most 32 bits wide) and are range-checked before
// they are stored.
using value = std::variant<std::string, std::int64_t, bool>;

struct key_info {
  std::string_view key;  // dotted, "mqtt.port"
  value_type type;
  std::string_view description;
  std::int64_t min = 0;  // integers: inclusive range
  std::int64_t max = 0;
  std::span<const std::string_view> choices;  // strings: allowed values; empty = any non-empty
  value (*get)(const node_config&) = nullptr;
  void (*set)(node_config&, const value&) = nullptr;  // the value has passed check()

  constexpr std::string_view section() const { return key.substr(0, key.find('.')); }
  constexpr std::string_view name() const { return key.substr(key.find('.') + 1); }
  // CONVOY_<SECTION>_<NAME>, upper-cased: "CONVOY_MQTT_PORT".
  std::string env_name() const;
  // "integer 0..65535", "string", "one of trace, debug, ...", "boolean".
  std::string type_description() const;
  // Why v cannot be stored under this key, or empty when it can. v must be of
  // this key's type.
  std::string check(const value& v) const;
};

// Every key, grouped by section, in the order the sections appear in TOML.
std::span<const key_info> config_keys();

// The key named `key` ("mqtt.port"), or nullptr.
const key_info* find_key(std::string_view key);

// Section names, in order: node, log, mqtt, broker, storage.
std::span<const std::string_view> config_sections();

// What the section is for, one sentence.
std::string_view section_description(std::string_view section);

// Prefix of every configuration environment variable.
inline constexpr std::string_view env_prefix = "CONVOY_";

// CONVOY_* variables that belong to tools and scripts, not to the node
// configuration, and that load_config therefore ignores.
std::span<const std::string_view> reserved_env_names();

// `v` as it would be written in TOML: 1883, true, "convoy-1" (escaped).
std::string format_toml_value(const value& v);

}  // namespace convoy::config
