#include "config/loader.hpp"

#include <toml++/toml.h>
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace convoy::config {

namespace {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// Close enough to be a typo: at most a third of the name, and never more than 3.
bool is_close(std::string_view typed, std::string_view known) {
  std::size_t limit = std::clamp<std::size_t>(typed.size() / 3, 1, 3);
  return edit_distance(typed, known) <= limit;
}

// " (did you mean 'mqtt.port'?)" for the known key closest to `key`, or "".
// A key whose last part matches a known key's name ("port" or "broker.port"
// for "mqtt.port") counts as close too, and so does a known key's beginning.
std::string suggest_key(std::string_view key) {
  const key_info* best = nullptr;
  std::size_t best_distance = 0;
  for (const key_info& k : config_keys()) {
    std::size_t d = edit_distance(key, k.key);
    if (best == nullptr || d < best_distance) {
      best = &k;
      best_distance = d;
    }
  }
  if (best != nullptr && is_close(key, best->key)) {
    return " (did you mean '" + std::string(best->key) + "'?)";
  }
  std::string_view last = key.substr(key.rfind('.') + 1);
  for (const key_info& k : config_keys()) {
    if (k.name() == last) return " (did you mean '" + std::string(k.key) + "'?)";
  }
  // A shortened key: "mqtt.retain" for "mqtt.retain_available".
  if (key.find('.') != std::string_view::npos) {
    for (const key_info& k : config_keys()) {
      if (k.key.starts_with(key)) return " (did you mean '" + std::string(k.key) + "'?)";
    }
  }
  return {};
}

std::string suggest_section(std::string_view section) {
  for (std::string_view s : config_sections()) {
    if (is_close(section, s)) return " (did you mean '" + std::string(s) + "'?)";
  }
  // A key of some section written at the top level: "port = 1884".
  return suggest_key(section);
}

std::string type_name(value_type t) {
  switch (t) {
    case value_type::string:
      return "a string";
    case value_type::integer:
      return "an integer";
    case value_type::boolean:
      return "a boolean (true or false)";
  }
  return {};
}

std::string toml_type_name(toml::node_type t) {
  switch (t) {
    case toml::node_type::string:
      return "string";
    case toml::node_type::integer:
      return "integer";
    case toml::node_type::floating_point:
      return "floating-point number";
    case toml::node_type::boolean:
      return "boolean";
    case toml::node_type::date:
      return "date";
    case toml::node_type::time:
      return "time";
    case toml::node_type::date_time:
      return "date-time";
    case toml::node_type::array:
      return "array";
    case toml::node_type::table:
      return "table";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

// Collects what load_config finds and remembers where each key was last set,
// so that a cross-key error can point at the values involved.
struct loader {
  node_config config;
  std::vector<config_error> errors;
  std::vector<std::string> origin = std::vector<std::string>(config_keys().size(), "default");

  void fail(std::string key, std::string source, std::string message) {
    errors.push_back({std::move(key), std::move(source), std::move(message)});
  }

  void store(const key_info& k, const value& v, const std::string& source) {
    if (std::string why = k.check(v); !why.empty()) {
      fail(std::string(k.key), source, std::move(why));
      return;
    }
    k.set(config, v);
    origin[static_cast<std::size_t>(&k - config_keys().data())] = source;
  }

  // A value given as text, by the environment or --set.
  void store_text(const key_info& k, std::string_view text, const std::string& source) {
    switch (k.type) {
      case value_type::string:
        store(k, std::string(text), source);
        return;
      case value_type::boolean:
        if (text == "true" || text == "false") {
          store(k, text == "true", source);
        } else {
          fail(std::string(k.key), source,
               "'" + std::string(k.key) + "' must be true or false, got " +
                   format_toml_value(std::string(text)));
        }
        return;
      case value_type::integer: {
        std::int64_t i = 0;
        std::string_view digits = text.starts_with('+') ? text.substr(1) : text;
        auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), i);
        if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() ||
            (digits != text && digits.starts_with('-'))) {
          fail(std::string(k.key), source,
               "'" + std::string(k.key) + "' must be an integer, got " +
                   format_toml_value(std::string(text)));
        } else {
          store(k, i, source);
        }
        return;
      }
    }
  }

  void read_file(const std::string& path) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      fail({}, path, "cannot read configuration file: it is a directory");
      return;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      fail({}, path, std::string("cannot open configuration file: ") + std::strerror(errno));
      return;
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) {
      fail({}, path, "cannot read configuration file");
      return;
    }
    read_toml(text.str(), path);
  }

  void read_toml(const std::string& text, const std::string& path) {
    toml::table root;
#if TOML_EXCEPTIONS
    try {
      root = toml::parse(text, path);
    } catch (const toml::parse_error& e) {
      syntax_error(e, path);
      return;
    }
#else
    toml::parse_result parsed = toml::parse(text, path);
    if (!parsed) {
      syntax_error(parsed.error(), path);
      return;
    }
    root = std::move(parsed).table();
#endif
    // toml::table orders keys by name; report in the order of the file.
    const std::size_t first_error = errors.size();
    std::vector<std::pair<toml::source_index, std::size_t>> order;
    auto fail_at = [&](const toml::source_region& region, std::string key, std::string message) {
      order.emplace_back(region.begin.line, order.size());
      fail(std::move(key), where(path, region), std::move(message));
    };
    for (const auto& [section_key, section_node] : root) {
      std::string section(section_key.str());
      if (std::find(config_sections().begin(), config_sections().end(), section) ==
          config_sections().end()) {
        fail_at(section_key.source(), section,
                std::string(section_node.is_table() ? "unknown table '" : "unknown key '") +
                    section + "'" + suggest_section(section));
        continue;
      }
      const toml::table* table = section_node.as_table();
      if (table == nullptr) {
        fail_at(section_key.source(), section,
                "'" + section + "' must be a table, got " + toml_type_name(section_node.type()));
        continue;
      }
      for (const auto& [name, node] : *table) {
        std::string key = section + "." + std::string(name.str());
        const key_info* k = find_key(key);
        if (k == nullptr) {
          fail_at(name.source(), key, "unknown key '" + key + "'" + suggest_key(key));
          continue;
        }
        const std::size_t before = errors.size();
        store_node(*k, node, where(path, node.source()));
        if (errors.size() != before) order.emplace_back(node.source().begin.line, order.size());
      }
    }
    std::stable_sort(order.begin(), order.end());
    std::vector<config_error> sorted;
    for (const auto& [line, index] : order)
      sorted.push_back(std::move(errors[first_error + index]));
    std::move(sorted.begin(), sorted.end(),
              errors.begin() + static_cast<std::ptrdiff_t>(first_error));
  }

  void store_node(const key_info& k, const toml::node& node, const std::string& source) {
    std::optional<value> v;
    switch (k.type) {
      case value_type::string:
        if (auto s = node.value_exact<std::string>()) v = std::move(*s);
        break;
      case value_type::integer:
        if (auto i = node.value_exact<std::int64_t>()) v = *i;
        break;
      case value_type::boolean:
        if (auto b = node.value_exact<bool>()) v = *b;
        break;
    }
    if (!v) {
      std::ostringstream got;
      got << toml_type_name(node.type());
      if (node.is_value()) {
        got << ' ';
        node.visit([&](const auto& n) {
          if constexpr (toml::is_string<decltype(n)>) {
            got << format_toml_value(n.get());
          } else if constexpr (toml::is_value<decltype(n)>) {
            got << n;
          }
        });
      }
      fail(std::string(k.key), source,
           "'" + std::string(k.key) + "' must be " + type_name(k.type) + ", got " + got.str());
      return;
    }
    store(k, *v, source);
  }

  void syntax_error(const toml::parse_error& e, const std::string& path) {
    const toml::source_position& begin = e.source().begin;
    fail({}, path + ":" + std::to_string(begin.line) + ":" + std::to_string(begin.column),
         std::string(e.description()));
  }

  static std::string where(const std::string& path, const toml::source_region& region) {
    return path + ":" + std::to_string(region.begin.line);
  }

  void read_environment(const std::vector<std::pair<std::string, std::string>>& environment) {
    for (const auto& [name, text] : environment) {
      if (!name.starts_with(env_prefix)) continue;
      const auto reserved = reserved_env_names();
      if (std::find(reserved.begin(), reserved.end(), name) != reserved.end()) continue;
      const key_info* match = nullptr;
      const key_info* closest = nullptr;
      std::size_t closest_distance = 0;
      for (const key_info& k : config_keys()) {
        std::string env = k.env_name();
        if (env == name) match = &k;
        std::size_t d = edit_distance(name, env);
        if (closest == nullptr || d < closest_distance) {
          closest = &k;
          closest_distance = d;
        }
      }
      if (closest != nullptr &&
          !is_close(std::string_view(name).substr(env_prefix.size()),
                    std::string_view(closest->env_name()).substr(env_prefix.size()))) {
        closest = nullptr;
      }
      if (match != nullptr) {
        store_text(*match, text, "env " + name);
        continue;
      }
      // CONVOY_<SECTION>_* is the configuration's namespace; anything in it,
      // or close to a known variable, is a mistake rather than another tool's.
      bool in_section = false;
      for (std::string_view section : config_sections()) {
        std::string prefix(env_prefix);
        for (char c : section)
          prefix += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        prefix += '_';
        if (name.starts_with(prefix)) in_section = true;
      }
      if (!in_section && closest == nullptr) continue;
      std::string message = "unknown configuration variable " + name;
      if (closest != nullptr) message += " (did you mean " + closest->env_name() + "?)";
      fail({}, "env " + name, std::move(message));
    }
  }

  void read_overrides(const std::vector<std::string>& overrides) {
    for (const std::string& item : overrides) {
      std::size_t eq = item.find('=');
      if (eq == std::string::npos) {
        fail({}, "--set", "expected key=value, got " + format_toml_value(item));
        continue;
      }
      std::string key = item.substr(0, eq);
      const key_info* k = find_key(key);
      if (k == nullptr) {
        fail(key, "--set", "unknown key '" + key + "'" + suggest_key(key));
        continue;
      }
      store_text(*k, std::string_view(item).substr(eq + 1), "--set");
    }
  }

  const std::string& origin_of(const key_info* k) const {
    return origin[static_cast<std::size_t>(k - config_keys().data())];
  }

  // Rules between keys; kept to those whose violation makes the broker
  // contradict itself. Documented in docs/CONFIG.md.
  void check_combination() {
    // `low` must not exceed `high`.
    auto at_most = [&](std::string_view low, std::string_view high, std::string_view why) {
      const key_info* l = find_key(low);
      const key_info* h = find_key(high);
      std::int64_t lv = std::get<std::int64_t>(l->get(config));
      std::int64_t hv = std::get<std::int64_t>(h->get(config));
      if (lv <= hv) return;
      // Blame the key that was set; the low one when both were.
      const key_info* blamed = origin_of(l) == "default" ? h : l;
      fail(std::string(blamed->key), origin_of(blamed),
           "'" + std::string(low) + "' (" + std::to_string(lv) + ", from " + origin_of(l) +
               ") must not exceed '" + std::string(high) + "' (" + std::to_string(hv) + ", from " +
               origin_of(h) + "): " + std::string(why));
    };
    at_most("mqtt.default_keep_alive", "mqtt.max_keep_alive",
            "the keep alive the broker assigns must be one it allows");
    at_most("mqtt.max_packet_size", "mqtt.max_outbound_bytes",
            "one packet of the largest size must fit into a connection's write backlog");
    at_most("commands.default_timeout_seconds", "commands.max_timeout_seconds",
            "the timeout a command gets by default must be one a request may ask for");
    check_tls();
    check_websocket();
    check_http();
    check_commands();
    check_cluster();
    if (config.jwt.enabled && config.jwt.hs256_secret_file.empty() &&
        config.jwt.public_key_file.empty())
      need("jwt.public_key_file", "when jwt.enabled is true (or jwt.hs256_secret_file)");
  }

  // Like mosquitto 2.0's local-only mode: a node that lets anyone in and
  // authorizes nothing is for the machine it runs on. Its MQTT listeners
  // take loopback connections only, unless their address was set.
  void apply_local_only() {
    if (!config.auth.allow_anonymous || !config.auth.acl_file.empty()) return;
    for (std::string_view key : local_only_keys) {
      const key_info* k = find_key(key);
      if (origin_of(k) == "default") k->set(config, std::string{"127.0.0.1"});
    }
  }

  // A key that must be set because another one is.
  void need(std::string_view key, std::string_view because) {
    const key_info* k = find_key(key);
    if (!std::get<std::string>(k->get(config)).empty()) return;
    fail(std::string(key), origin_of(k),
         "'" + std::string(key) + "' must be set " + std::string(because));
  }

  // An API anyone who reaches the port may use is for a developer's
  // machine only.
  void check_http() {
    const auto& h = config.http;
    if (!h.enabled || !h.api_keys_file.empty() || config.jwt.enabled) return;
    const std::string& b = h.bind;
    bool loopback = b == "localhost" || b == "::1" || b.starts_with("127.");
    if (loopback) return;
    const key_info* bind = find_key("http.bind");
    fail("http.bind", origin_of(bind),
         "'http.bind' is " + b +
             ", not a loopback address, but the API has no credentials to check: set "
             "'http.api_keys_file' or enable [jwt]");
  }

  // The notification topic must be a topic name once its placeholders
  // are filled in.
  void check_commands() {
    const auto& c = config.commands;
    std::string topic = c.notification_topic;
    if (topic.empty()) return;
    for (std::string_view p : {"{vin}", "{id}", "{name}", "{subject}"})
      for (auto at = topic.find(p); at != std::string::npos; at = topic.find(p))
        topic.replace(at, p.size(), "x");
    const bool wild = topic.find_first_of("+#") != std::string::npos;
    if (wild || topic.find('{') != std::string::npos || topic.starts_with("$"))
      fail("commands.notification_topic", origin_of(find_key("commands.notification_topic")),
           "'commands.notification_topic' must be a topic name (no '+', '#' or leading '$') whose "
           "only placeholders are {vin}, {id}, {name} and {subject}; got '" +
               c.notification_topic + "'");
  }

  // A cluster member's names become etcd keys and its addresses are what
  // the other members dial: both must be usable as they are.
  void check_cluster() {
    const auto& c = config.cluster;
    if (c.connection_timeout_ms <= c.heartbeat_interval_ms)
      fail("cluster.connection_timeout_ms", origin_of(find_key("cluster.connection_timeout_ms")),
           "'cluster.connection_timeout_ms' (" + std::to_string(c.connection_timeout_ms) +
               ") must exceed 'cluster.heartbeat_interval_ms' (" +
               std::to_string(c.heartbeat_interval_ms) +
               "): a link must see a heartbeat before it times out");
    if (c.etcd.empty()) return;
    auto plain_name = [](const std::string& s) {
      return !s.empty() && s.find_first_not_of(
                               "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                               "0123456789._-") == std::string::npos;
    };
    for (std::string_view key : {"cluster.name", "node.name"}) {
      const key_info* k = find_key(key);
      auto v = std::get<std::string>(k->get(config));
      if (!plain_name(v))
        fail(std::string(key), origin_of(k),
             "'" + std::string(key) +
                 "' must hold only letters, digits, '.', '_' and '-' in a "
                 "cluster (it is part of the member's etcd key); got '" +
                 v + "'");
    }
    std::string_view all = c.etcd;
    for (std::size_t start = 0; start <= all.size();) {
      auto comma = std::min(all.find(',', start), all.size());
      std::string_view url = all.substr(start, comma - start);
      start = comma + 1;
      auto authority = url.starts_with("http://") ? url.substr(7) : std::string_view{};
      auto colon = authority.rfind(':');
      bool ok =
          colon != std::string_view::npos && colon > 0 && colon + 1 < authority.size() &&
          authority.substr(colon + 1).find_first_not_of("0123456789") == std::string_view::npos &&
          authority.find('/') == std::string_view::npos;
      if (!ok) {
        fail("cluster.etcd", origin_of(find_key("cluster.etcd")),
             "'cluster.etcd' must be http://host:port endpoints separated by commas; '" +
                 std::string(url) + "' is not one");
        break;
      }
    }
    const std::string& b = c.bind;
    if (c.advertise.empty() && (b == "0.0.0.0" || b == "::" || b.empty()))
      fail("cluster.advertise", origin_of(find_key("cluster.advertise")),
           "'cluster.advertise' must be set when 'cluster.bind' is the wildcard address " + b +
               ": the other members need an address to reach this node at");
  }

  void check_websocket() {
    const auto& w = config.websocket;
    const key_info* path = find_key("websocket.path");
    if (w.path.front() != '/' || w.path.find_first_of(" ?#") != std::string::npos)
      fail("websocket.path", origin_of(path),
           "'websocket.path' must start with '/' and hold no spaces, '?' or '#'; got '" + w.path +
               "'");
    if (!w.tls_enabled) return;
    need("tls.cert_file", "when websocket.tls_enabled is true: wss uses the [tls] certificate");
    need("tls.key_file", "when websocket.tls_enabled is true: wss uses the [tls] certificate");
    if (config.tls.client_certificates != "none")
      need("tls.ca_file", "when tls.client_certificates is '" + config.tls.client_certificates +
                              "' (it applies to wss too)");
  }

  void check_tls() {
    const auto& t = config.tls;
    if (!t.enabled) return;
    need("tls.cert_file", "when tls.enabled is true");
    need("tls.key_file", "when tls.enabled is true");
    if (t.client_certificates != "none")
      need("tls.ca_file", "when tls.client_certificates is '" + t.client_certificates +
                              "': client certificates are checked against it");
    if (!t.crl_file.empty() && t.ca_file.empty())
      need("tls.ca_file", "when tls.crl_file is: revocation applies to client certificates");
  }
};

}  // namespace

load_result load_config(const config_sources& sources) {
  loader l;
  if (sources.file) l.read_file(*sources.file);
  l.read_environment(sources.environment);
  l.read_overrides(sources.overrides);
  if (l.errors.empty()) l.check_combination();
  if (l.errors.empty()) l.apply_local_only();
  if (!l.errors.empty()) return std::move(l.errors);
  return std::move(l.config);
}

}  // namespace convoy::config
