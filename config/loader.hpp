#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "config/config.hpp"
#include "config/schema.hpp"

namespace convoy::config {

// Where a node's configuration comes from. Precedence, lowest first:
// embedded defaults < TOML file < CONVOY_* environment < --set overrides.
struct config_sources {
  // TOML file to read; nullopt reads none. The path appears in errors as given.
  std::optional<std::string> file = {};
  // "key=value" strings from --set, applied in order (the last one for a key wins).
  std::vector<std::string> overrides = {};
  // Process environment as name,value pairs; the caller passes it in (e.g.
  // from environ) so loading stays pure. Only CONVOY_* names are looked at.
  std::vector<std::pair<std::string, std::string>> environment = {};
};

// Either the effective configuration or every error found, each naming its key
// and where the bad value came from ("convoy.toml:12", "env CONVOY_MQTT_PORT",
// "--set"). A TOML syntax error stops the file from being read any further,
// but the environment and --set are still checked; cross-key checks only run
// when every single value was fine.
using load_result = std::variant<node_config, std::vector<config_error>>;

load_result load_config(const config_sources& sources);

// Every key with type, range, default, environment variable and description,
// for `convoy node --help-config`.
std::string describe_keys();

// The configuration as a TOML document that load_config reads back to the same
// node_config, for `convoy node --print-config`.
std::string to_toml(const node_config& config);

// config/convoy.example.toml: every key at its default, each with its
// description as a comment. A unit test keeps the checked-in file equal to it.
// The keys local-only mode decides (local_only_keys) stand commented out:
// a copy of the file must not set them and so switch the mode off.
std::string example_toml();

// The listener addresses that local-only mode (anonymous logins and no
// auth.acl_file) sets to 127.0.0.1 unless they were set.
inline constexpr std::string_view local_only_keys[] = {"mqtt.bind", "tls.bind", "websocket.bind"};
constexpr bool is_local_only_key(std::string_view key) {
  for (std::string_view k : local_only_keys)
    if (k == key) return true;
  return false;
}

}  // namespace convoy::config
