#include <doctest/doctest.h>

#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "config/loader.hpp"

using namespace convoy::config;

namespace {

namespace fs = std::filesystem;

// A file in a fresh temporary directory, removed with the object.
class temp_file {
 public:
  explicit temp_file(const std::string& text, const std::string& name = "convoy.toml") {
    dir_ = fs::temp_directory_path() /
           ("convoy-config-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    fs::create_directories(dir_);
    path_ = (dir_ / name).string();
    std::ofstream(path_, std::ios::binary) << text;
  }
  ~temp_file() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  temp_file(const temp_file&) = delete;
  temp_file& operator=(const temp_file&) = delete;
  const std::string& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  fs::path dir_;
  std::string path_;
};

node_config expect_config(const load_result& r) {
  if (const auto* errors = std::get_if<std::vector<config_error>>(&r)) {
    for (const config_error& e : *errors)
      FAIL_CHECK("unexpected error: " << e.to_string());
    FAIL("load_config failed");
  }
  return std::get<node_config>(r);
}

std::vector<config_error> expect_errors(const load_result& r) {
  REQUIRE_MESSAGE(std::holds_alternative<std::vector<config_error>>(r),
                  "load_config succeeded where it should fail");
  return std::get<std::vector<config_error>>(r);
}

// The one error of a load that must fail with exactly one.
config_error single_error(const load_result& r) {
  auto errors = expect_errors(r);
  for (const config_error& e : errors)
    INFO(e.to_string());
  REQUIRE(errors.size() == 1);
  return errors.front();
}

load_result load_file(const std::string& text) {
  temp_file f(text);
  return load_config({.file = f.path()});
}

// Loads a TOML text and returns its one error, with the file path in the
// error source replaced by "convoy.toml" so tests can compare whole sources.
config_error file_error(const std::string& text) {
  temp_file f(text);
  config_error e = single_error(load_config({.file = f.path()}));
  if (e.source.starts_with(f.path())) e.source = "convoy.toml" + e.source.substr(f.path().size());
  return e;
}

load_result load_set(std::vector<std::string> overrides) {
  return load_config({.overrides = std::move(overrides)});
}

load_result load_env(std::vector<std::pair<std::string, std::string>> environment) {
  return load_config({.environment = std::move(environment)});
}

// What a node loads with no file, variables or --set: the embedded defaults
// in local-only mode (anonymous logins, no ACL: MQTT listeners on loopback).
node_config loaded_defaults() {
  node_config c;
  c.mqtt.bind = c.tls.bind = c.websocket.bind = "127.0.0.1";
  return c;
}

// From the build (tests/CMakeLists.txt): __FILE__ is relative when ccache
// rewrites paths (base_dir).
fs::path source_root() {
  return fs::path(CONVOY_SOURCE_DIR);
}

fs::path example_path() {
  return source_root() / "config" / "convoy.example.toml";
}

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("config defaults are the embedded ones") {
  node_config c = expect_config(load_config({}));
  // The embedded defaults let anonymous clients in and authorize nothing:
  // local-only mode keeps the MQTT listeners on loopback.
  CHECK(c == loaded_defaults());
  CHECK(c.node.name == "convoy-1");
  CHECK(c.node.data_dir == "./data");
  CHECK(c.log.level == "info");
  CHECK(c.mqtt.bind == "127.0.0.1");
  CHECK(c.mqtt.port == 1883);
  CHECK(c.mqtt.max_packet_size == 1'048'576);
  CHECK(c.mqtt.maximum_qos == 2);
  CHECK(c.broker.topic_shards == 8);
  CHECK(c.broker.actor_threads == 0);
}

TEST_CASE("local-only mode: anonymous logins without an ACL bind the MQTT listeners to loopback") {
  // Unless an address is set, from any source.
  node_config c = expect_config(load_set({"websocket.bind=0.0.0.0"}));
  CHECK(c.mqtt.bind == "127.0.0.1");
  CHECK(c.tls.bind == "127.0.0.1");
  CHECK(c.websocket.bind == "0.0.0.0");
  c = expect_config(load_env({{"CONVOY_MQTT_BIND", "0.0.0.0"}}));
  CHECK(c.mqtt.bind == "0.0.0.0");
  CHECK(c.websocket.bind == "127.0.0.1");
  // An ACL or logins required: the listeners take every interface.
  for (std::string set : {"auth.acl_file=/etc/convoy/acl.toml", "auth.allow_anonymous=false"}) {
    c = expect_config(load_set({set}));
    CHECK(c.mqtt.bind == "0.0.0.0");
    CHECK(c.tls.bind == "0.0.0.0");
    CHECK(c.websocket.bind == "0.0.0.0");
  }
}

TEST_CASE("config schema covers every field of node_config") {
  // Each key's setter must reach its own field: set every key to a value other
  // than its default, one at a time, and check exactly one field changed.
  const node_config defaults;
  std::size_t keys = 0;
  for (const key_info& k : config_keys()) {
    ++keys;
    CAPTURE(k.key);
    node_config c;
    value v = k.get(defaults);
    if (auto* s = std::get_if<std::string>(&v)) {
      *s = k.choices.empty() ? *s + "x"
                             : std::string(k.choices[0] == *s ? k.choices[1] : k.choices[0]);
    } else if (auto* b = std::get_if<bool>(&v)) {
      *b = !*b;
    } else {
      auto& i = std::get<std::int64_t>(v);
      i = i == k.max ? k.min : i + 1;
    }
    REQUIRE(k.check(v).empty());
    k.set(c, v);
    CHECK(k.get(c) == v);
    CHECK_FALSE(c == defaults);
    // Only this key differs.
    for (const key_info& other : config_keys()) {
      if (&other != &k) CHECK_MESSAGE(other.get(c) == other.get(defaults), other.key);
    }
    CHECK(find_key(k.key) == &k);
  }
  // As many keys as node_config has fields, and (above) each key reaches a
  // different one. The bindings stop compiling when a field is added: give it
  // a key in config/schema.cpp, then add it here.
  node_config c;
  [[maybe_unused]] auto& [name, data_dir] = c.node;
  [[maybe_unused]] auto& [level] = c.log;
  [[maybe_unused]] auto& [bind, port, max_packet_size, receive_maximum, max_inflight_messages,
                          topic_alias_maximum, max_keep_alive, default_keep_alive,
                          max_session_expiry, connect_timeout_ms, max_connections,
                          max_connect_rate_per_address, max_publish_rate, max_publish_bytes_rate,
                          max_topic_levels, max_subscriptions_per_client, max_queued_messages,
                          max_queued_bytes, queue_qos0_messages, max_outbound_bytes,
                          retain_available, wildcard_subscriptions, shared_subscriptions,
                          subscription_identifiers, maximum_qos] = c.mqtt;
  [[maybe_unused]] auto& [topic_shards, shard_key_levels, io_threads, actor_threads] = c.broker;
  [[maybe_unused]] auto& [enabled, map_size_mb, sync, commit_window_us, max_batch_ops,
                          max_pending_ops] = c.storage;
  [[maybe_unused]] auto& [allow_anonymous, password_file, failure_delay_ms, max_failure_delay_ms,
                          acl_file, acl_reload_interval_ms] = c.auth;
  [[maybe_unused]] auto& [tls_enabled, tls_bind, tls_port, cert_file, key_file, ca_file, crl_file,
                          client_certificates, min_version, identity, reload_interval_ms] = c.tls;
  [[maybe_unused]] auto& [ws_enabled, ws_bind, ws_port, ws_path, ws_tls_enabled, ws_tls_port,
                          allowed_origins] = c.websocket;
  [[maybe_unused]] auto& [jwt_enabled, hs256_secret_file, public_key_file, issuer, audience,
                          identity_claim, leeway_s] = c.jwt;
  [[maybe_unused]] auto& [registry_required, registry_shards] = c.registry;
  [[maybe_unused]] auto& [purposes_file, consent_shards, max_cached_vehicles, service_roles] =
      c.consent;
  [[maybe_unused]] auto& [state_enabled, state_shards, history_size, state_cached] = c.state;
  [[maybe_unused]] auto& [rules_file, archive_dir, max_inflated_bytes, rule_workers,
                          max_api_definitions] = c.rules;
  [[maybe_unused]] auto& [commands_enabled, command_shards, require_consent, default_timeout,
                          max_timeout, max_ttl, max_active, max_active_per_vehicle, retention,
                          notification_topic] = c.commands;
  [[maybe_unused]] auto& [http_enabled, http_bind, http_port, api_keys_file, operator_role,
                          metrics_require_auth, max_body_bytes, http_max_connections,
                          request_timeout_ms] = c.http;
  [[maybe_unused]] auto& [etcd, cluster_name, cluster_bind, cluster_port, advertise, lease_ttl,
                          heartbeat_interval, connection_timeout, peer_window_messages,
                          peer_window_bytes, client_slices] = c.cluster;
  CHECK(keys == 2 + 1 + 25 + 4 + 6 + 6 + 11 + 7 + 7 + 2 + 4 + 4 + 5 + 10 + 9 + 11);
  CHECK(find_key("mqtt.prot") == nullptr);
}

TEST_CASE("config environment names") {
  CHECK(find_key("mqtt.port")->env_name() == "CONVOY_MQTT_PORT");
  CHECK(find_key("log.level")->env_name() == "CONVOY_LOG_LEVEL");
  CHECK(find_key("node.data_dir")->env_name() == "CONVOY_NODE_DATA_DIR");
}

TEST_CASE("config file overrides defaults") {
  node_config c = expect_config(load_file(R"(
[node]
name = "edge-7"
data_dir = "/var/lib/convoy"

[log]
level = "debug"

[mqtt]
port = 1884
max_packet_size = 65536
retain_available = false
maximum_qos = 1

[broker]
topic_shards = 16
)"));
  CHECK(c.node.name == "edge-7");
  CHECK(c.node.data_dir == "/var/lib/convoy");
  CHECK(c.log.level == "debug");
  CHECK(c.mqtt.port == 1884);
  CHECK(c.mqtt.max_packet_size == 65536);
  CHECK(c.mqtt.retain_available == false);
  CHECK(c.mqtt.maximum_qos == 1);
  CHECK(c.broker.topic_shards == 16);
  // Untouched keys keep their defaults (local-only mode's loopback here).
  CHECK(c.mqtt.bind == "127.0.0.1");
  CHECK(c.broker.io_threads == 1);
}

TEST_CASE("config file accepts dotted keys, inline tables and an empty document") {
  node_config c = expect_config(load_file("mqtt.port = 1885\nbroker = { io_threads = 3 }\n"));
  CHECK(c.mqtt.port == 1885);
  CHECK(c.broker.io_threads == 3);
  CHECK(expect_config(load_file("")) == loaded_defaults());
  CHECK(expect_config(load_file("# only a comment\n[mqtt]\n")) == loaded_defaults());
}

TEST_CASE("config environment overrides defaults") {
  node_config c = expect_config(load_env({{"CONVOY_MQTT_PORT", "1884"},
                                          {"CONVOY_LOG_LEVEL", "debug"},
                                          {"CONVOY_NODE_DATA_DIR", "/var/lib/convoy"},
                                          {"CONVOY_MQTT_RETAIN_AVAILABLE", "false"},
                                          {"PATH", "/usr/bin"},
                                          {"HOME", "/root"}}));
  CHECK(c.mqtt.port == 1884);
  CHECK(c.log.level == "debug");
  CHECK(c.node.data_dir == "/var/lib/convoy");
  CHECK(c.mqtt.retain_available == false);
}

TEST_CASE("config environment ignores tool variables and other CONVOY_ names") {
  node_config c = expect_config(load_env({{"CONVOY_BINARY", "/work/build/convoy"},
                                          {"CONVOY_CONFIG", "/etc/convoy.toml"},
                                          {"CONVOY_SANITIZE", "ON"},
                                          {"convoy_mqtt_port", "1"},
                                          {"XCONVOY_MQTT_PORT", "2"}}));
  CHECK(c == loaded_defaults());
}

TEST_CASE("config --set overrides defaults") {
  node_config c = expect_config(load_set({"mqtt.port=1884", "log.level=warn", "node.name=a=b",
                                          "mqtt.shared_subscriptions=false", "node.data_dir=/d"}));
  CHECK(c.mqtt.port == 1884);
  CHECK(c.log.level == "warn");
  CHECK(c.node.name == "a=b");  // the first '=' splits key and value
  CHECK(c.mqtt.shared_subscriptions == false);
  CHECK(c.node.data_dir == "/d");
  // The last --set of a key wins.
  CHECK(expect_config(load_set({"mqtt.port=1", "mqtt.port=2"})).mqtt.port == 2);
  CHECK(expect_config(load_set({"mqtt.port=+7"})).mqtt.port == 7);
}

TEST_CASE("config precedence: defaults < file < environment < --set") {
  temp_file f(R"(
[mqtt]
port = 1001
receive_maximum = 11
topic_alias_maximum = 21
)");
  config_sources sources{
      .file = f.path(),
      .overrides = {"mqtt.port=3003"},
      .environment = {{"CONVOY_MQTT_PORT", "2002"}, {"CONVOY_MQTT_RECEIVE_MAXIMUM", "22"}},
  };
  node_config c = expect_config(load_config(sources));
  CHECK(c.mqtt.port == 3003);               // --set beats environment and file
  CHECK(c.mqtt.receive_maximum == 22);      // environment beats file
  CHECK(c.mqtt.topic_alias_maximum == 21);  // file beats default
  CHECK(c.mqtt.max_keep_alive == 3600);     // default
}

TEST_CASE("config file syntax errors give file, line, column and toml++'s message") {
  config_error e = file_error("[mqtt]\nport = 1883\nbind = \"0.0.0.0\n");
  CHECK(e.key.empty());
  CHECK(e.source.starts_with("convoy.toml:3:"));
  CHECK_FALSE(e.message.empty());

  e = file_error("[mqtt]\nport = 1883\nport = 1884\n");
  CHECK(e.source.starts_with("convoy.toml:3:"));

  e = file_error("[mqtt]\nport == 1883\n");
  CHECK(e.source == "convoy.toml:2:7");
}

TEST_CASE("config file that cannot be read is an error") {
  config_error e = single_error(load_config({.file = "/nonexistent/convoy.toml"}));
  CHECK(e.source == "/nonexistent/convoy.toml");
  CHECK(e.message.find("cannot open") != std::string::npos);
}

TEST_CASE("config unknown keys and tables name the key, the line and the closest key") {
  config_error e = file_error("[mqtt]\nport = 1883\n\n\n\n\n\n\n\n\n\nprot = 1884\n");
  CHECK(e.key == "mqtt.prot");
  CHECK(e.source == "convoy.toml:12");
  CHECK(e.message == "unknown key 'mqtt.prot' (did you mean 'mqtt.port'?)");
  CHECK(e.to_string() == "convoy.toml:12: unknown key 'mqtt.prot' (did you mean 'mqtt.port'?)");

  e = file_error("[mqtt]\nretain = true\n");
  CHECK(e.key == "mqtt.retain");
  CHECK(e.source == "convoy.toml:2");
  CHECK(e.message == "unknown key 'mqtt.retain' (did you mean 'mqtt.retain_available'?)");

  e = file_error("[mqtt]\ntls = true\n");
  CHECK(e.key == "mqtt.tls");
  CHECK(e.message == "unknown key 'mqtt.tls'");  // nothing close

  e = file_error("\n[mqt]\nport = 1\n");
  CHECK(e.key == "mqt");
  CHECK(e.source == "convoy.toml:2");
  CHECK(e.message == "unknown table 'mqt' (did you mean 'mqtt'?)");

  e = file_error("port = 1\n");
  CHECK(e.key == "port");
  CHECK(e.source == "convoy.toml:1");
  CHECK(e.message == "unknown key 'port' (did you mean 'mqtt.port'?)");

  e = file_error("[broker]\nport = 1\n");
  CHECK(e.key == "broker.port");
  CHECK(e.message == "unknown key 'broker.port' (did you mean 'mqtt.port'?)");

  e = file_error("[mqtt]\n\n[mqtt.tls]\ncert = \"x\"\n");
  CHECK(e.key == "mqtt.tls");
  CHECK(e.source == "convoy.toml:3");

  e = file_error("mqtt = 5\n");
  CHECK(e.key == "mqtt");
  CHECK(e.message == "'mqtt' must be a table, got integer");
}

TEST_CASE("config file reports every error, not just the first") {
  temp_file f("[mqtt]\nport = 70000\nprot = 1\n[log]\nlevel = \"loud\"\n");
  auto errors = expect_errors(load_config({.file = f.path()}));
  REQUIRE(errors.size() == 3);
  CHECK(errors[0].key == "mqtt.port");
  CHECK(errors[0].source == f.path() + ":2");
  CHECK(errors[1].key == "mqtt.prot");
  CHECK(errors[1].source == f.path() + ":3");
  CHECK(errors[2].key == "log.level");
  CHECK(errors[2].source == f.path() + ":5");
}

TEST_CASE("config file values of the wrong type or out of range name the key and line") {
  struct bad_value {
    const char* toml;
    const char* key;
    const char* message;
  };
  const bad_value cases[] = {
      {"[mqtt]\nport = 70000\n", "mqtt.port", "'mqtt.port' must be between 0 and 65535, got 70000"},
      {"[mqtt]\nport = \"abc\"\n", "mqtt.port",
       "'mqtt.port' must be an integer, got string \"abc\""},
      {"[mqtt]\nport = 1883.0\n", "mqtt.port",
       "'mqtt.port' must be an integer, got floating-point number 1883.0"},
      {"[mqtt]\nport = -1\n", "mqtt.port", "'mqtt.port' must be between 0 and 65535, got -1"},
      {"[mqtt]\nmax_queued_messages = -5\n", "mqtt.max_queued_messages",
       "'mqtt.max_queued_messages' must be between 0 and 4294967295, got -5"},
      {"[mqtt]\nmax_session_expiry = 4294967296\n", "mqtt.max_session_expiry",
       "'mqtt.max_session_expiry' must be between 0 and 4294967295, got 4294967296"},
      {"[log]\nlevel = \"verbose\"\n", "log.level",
       "'log.level' must be one of trace, debug, info, warn, error, critical, off; got "
       "\"verbose\""},
      {"[log]\nlevel = \"INFO\"\n", "log.level",
       "'log.level' must be one of trace, debug, info, warn, error, critical, off; got \"INFO\""},
      {"[log]\nlevel = 3\n", "log.level", "'log.level' must be a string, got integer 3"},
      {"[mqtt]\nmaximum_qos = 3\n", "mqtt.maximum_qos",
       "'mqtt.maximum_qos' must be between 0 and 2, got 3"},
      {"[broker]\ntopic_shards = 0\n", "broker.topic_shards",
       "'broker.topic_shards' must be between 1 and 65536, got 0"},
      {"[broker]\nshard_key_levels = 0\n", "broker.shard_key_levels",
       "'broker.shard_key_levels' must be between 1 and 4294967295, got 0"},
      {"[broker]\nio_threads = 0\n", "broker.io_threads",
       "'broker.io_threads' must be between 1 and 1024, got 0"},
      {"[mqtt]\nreceive_maximum = 0\n", "mqtt.receive_maximum",
       "'mqtt.receive_maximum' must be between 1 and 65535, got 0"},
      {"[mqtt]\nmax_packet_size = 63\n", "mqtt.max_packet_size",
       "'mqtt.max_packet_size' must be between 64 and 268435460, got 63"},
      {"[mqtt]\nmax_packet_size = 268435461\n", "mqtt.max_packet_size",
       "'mqtt.max_packet_size' must be between 64 and 268435460, got 268435461"},
      {"[mqtt]\nconnect_timeout_ms = 0\n", "mqtt.connect_timeout_ms",
       "'mqtt.connect_timeout_ms' must be between 1 and 4294967295, got 0"},
      {"[mqtt]\nretain_available = \"yes\"\n", "mqtt.retain_available",
       "'mqtt.retain_available' must be a boolean (true or false), got string \"yes\""},
      {"[mqtt]\nretain_available = 1\n", "mqtt.retain_available",
       "'mqtt.retain_available' must be a boolean (true or false), got integer 1"},
      {"[mqtt]\nbind = [\"0.0.0.0\"]\n", "mqtt.bind", "'mqtt.bind' must be a string, got array"},
      {"[node]\nname = \"\"\n", "node.name", "'node.name' must not be empty"},
      {"[storage]\nsync = \"fsync\"\n", "storage.sync",
       "'storage.sync' must be one of sync, nosync; got \"fsync\""},
      {"[storage]\nmap_size_mb = 0\n", "storage.map_size_mb",
       "'storage.map_size_mb' must be between 1 and 16777216, got 0"},
      {"[storage]\ncommit_window_us = 100001\n", "storage.commit_window_us",
       "'storage.commit_window_us' must be between 0 and 100000, got 100001"},
      {"[storage]\nmax_batch_ops = 0\n", "storage.max_batch_ops",
       "'storage.max_batch_ops' must be between 1 and 4294967295, got 0"},
      {"[storage]\nmax_pending_ops = 0\n", "storage.max_pending_ops",
       "'storage.max_pending_ops' must be between 1 and 4294967295, got 0"},
      {"[storage]\nenabled = \"no\"\n", "storage.enabled",
       "'storage.enabled' must be a boolean (true or false), got string \"no\""},
  };
  for (const bad_value& c : cases) {
    CAPTURE(c.toml);
    // Two lines of padding so the line number is not trivially 1 or 2.
    config_error e = file_error(std::string("#\n#\n") + c.toml);
    CHECK(e.key == c.key);
    CHECK(e.source == "convoy.toml:4");
    CHECK(e.message == c.message);
  }
  // The limits themselves are fine.
  node_config ok = expect_config(load_file(
      "[mqtt]\nport = 65535\nmax_packet_size = 268435460\nmax_outbound_bytes = 268435460\n"
      "receive_maximum = 1\nmaximum_qos = 0\n[broker]\ntopic_shards = 1\n"));
  CHECK(ok.mqtt.port == 65535);
  CHECK(ok.mqtt.max_packet_size == 268'435'460);
  CHECK(expect_config(load_set({"mqtt.max_packet_size=64"})).mqtt.max_packet_size == 64);
}

TEST_CASE("config --set errors name the key and --set") {
  struct bad_set {
    const char* arg;
    const char* key;
    const char* message;
  };
  const bad_set cases[] = {
      {"mqtt.port=abc", "mqtt.port", "'mqtt.port' must be an integer, got \"abc\""},
      {"mqtt.port=", "mqtt.port", "'mqtt.port' must be an integer, got \"\""},
      {"mqtt.port=1883x", "mqtt.port", "'mqtt.port' must be an integer, got \"1883x\""},
      {"mqtt.port= 1883", "mqtt.port", "'mqtt.port' must be an integer, got \" 1883\""},
      {"mqtt.port=+-1", "mqtt.port", "'mqtt.port' must be an integer, got \"+-1\""},
      {"mqtt.port=99999999999999999999", "mqtt.port",
       "'mqtt.port' must be an integer, got \"99999999999999999999\""},
      {"mqtt.port=70000", "mqtt.port", "'mqtt.port' must be between 0 and 65535, got 70000"},
      {"mqtt.max_queued_bytes=-1", "mqtt.max_queued_bytes",
       "'mqtt.max_queued_bytes' must be between 0 and 4294967295, got -1"},
      {"mqtt.retain_available=yes", "mqtt.retain_available",
       "'mqtt.retain_available' must be true or false, got \"yes\""},
      {"mqtt.retain_available=True", "mqtt.retain_available",
       "'mqtt.retain_available' must be true or false, got \"True\""},
      {"log.level=loud", "log.level",
       "'log.level' must be one of trace, debug, info, warn, error, critical, off; got \"loud\""},
      {"mqtt.maximum_qos=3", "mqtt.maximum_qos",
       "'mqtt.maximum_qos' must be between 0 and 2, got 3"},
      {"broker.topic_shards=0", "broker.topic_shards",
       "'broker.topic_shards' must be between 1 and 65536, got 0"},
      {"mqtt.prot=1884", "mqtt.prot", "unknown key 'mqtt.prot' (did you mean 'mqtt.port'?)"},
      {"port=1884", "port", "unknown key 'port' (did you mean 'mqtt.port'?)"},
      {"mqtt.port", "", "expected key=value, got \"mqtt.port\""},
      {"node.name=", "node.name", "'node.name' must not be empty"},
  };
  for (const bad_set& c : cases) {
    CAPTURE(c.arg);
    config_error e = single_error(load_set({c.arg}));
    CHECK(e.key == c.key);
    CHECK(e.source == "--set");
    CHECK(e.message == c.message);
  }
  CHECK(single_error(load_set({"mqtt.port=abc"})).to_string() ==
        "--set: 'mqtt.port' must be an integer, got \"abc\"");
}

TEST_CASE("config environment errors name the variable") {
  config_error e = single_error(load_env({{"CONVOY_MQTT_PORT", "abc"}}));
  CHECK(e.key == "mqtt.port");
  CHECK(e.source == "env CONVOY_MQTT_PORT");
  CHECK(e.message == "'mqtt.port' must be an integer, got \"abc\"");

  e = single_error(load_env({{"CONVOY_LOG_LEVEL", "verbose"}}));
  CHECK(e.key == "log.level");
  CHECK(e.source == "env CONVOY_LOG_LEVEL");

  e = single_error(load_env({{"CONVOY_MQTT_PORT", ""}}));
  CHECK(e.source == "env CONVOY_MQTT_PORT");

  // Unknown variables in a section's namespace, or close to a known one.
  e = single_error(load_env({{"CONVOY_MQTT_PROT", "1884"}}));
  CHECK(e.key.empty());
  CHECK(e.source == "env CONVOY_MQTT_PROT");
  CHECK(e.message ==
        "unknown configuration variable CONVOY_MQTT_PROT (did you mean CONVOY_MQTT_PORT?)");

  e = single_error(load_env({{"CONVOY_MQTT_TLS_CERT", "x"}}));
  CHECK(e.source == "env CONVOY_MQTT_TLS_CERT");
  CHECK(e.message == "unknown configuration variable CONVOY_MQTT_TLS_CERT");

  e = single_error(load_env({{"CONVOY_MQT_PORT", "1884"}}));
  CHECK(e.source == "env CONVOY_MQT_PORT");
  CHECK(e.message ==
        "unknown configuration variable CONVOY_MQT_PORT (did you mean CONVOY_MQTT_PORT?)");
}

TEST_CASE("config cross-key checks run after merging and blame the key that was set") {
  config_error e = single_error(load_set({"mqtt.max_keep_alive=30", "mqtt.default_keep_alive=60"}));
  CHECK(e.key == "mqtt.default_keep_alive");
  CHECK(e.source == "--set");
  CHECK(e.message.find("'mqtt.default_keep_alive' (60, from --set) must not exceed "
                       "'mqtt.max_keep_alive' (30, from --set)") == 0);

  // Only max_outbound_bytes was set, so the error points at it.
  temp_file f("[mqtt]\n\nmax_outbound_bytes = 1000\n");
  e = single_error(load_config({.file = f.path()}));
  CHECK(e.key == "mqtt.max_outbound_bytes");
  CHECK(e.source == f.path() + ":3");
  CHECK(e.message.find("'mqtt.max_packet_size' (1048576, from default) must not exceed "
                       "'mqtt.max_outbound_bytes' (1000, from " +
                       f.path() + ":3)") == 0);

  // Each value alone is fine; a later source can repair an earlier one.
  node_config c =
      expect_config(load_config({.file = f.path(), .overrides = {"mqtt.max_packet_size=1000"}}));
  CHECK(c.mqtt.max_packet_size == 1000);
  CHECK(c.mqtt.max_outbound_bytes == 1000);

  // Cross-key checks are skipped while single values are wrong.
  auto errors = expect_errors(load_set({"mqtt.max_outbound_bytes=1000", "mqtt.port=x"}));
  CHECK(errors.size() == 1);
}

TEST_CASE("config TLS needs its files, and a CA for client certificates") {
  // Off, nothing is needed.
  CHECK(expect_config(load_set({})).tls.enabled == false);

  auto errors = expect_errors(load_set({"tls.enabled=true"}));
  REQUIRE(errors.size() == 3);
  CHECK(errors[0].key == "tls.cert_file");
  CHECK(errors[0].message == "'tls.cert_file' must be set when tls.enabled is true");
  CHECK(errors[1].key == "tls.key_file");
  CHECK(errors[2].key == "tls.ca_file");
  CHECK(errors[2].message.find("when tls.client_certificates is 'required'") != std::string::npos);

  // Server-only TLS needs no CA ...
  node_config c = expect_config(load_set({"tls.enabled=true", "tls.cert_file=s.crt",
                                          "tls.key_file=s.key", "tls.client_certificates=none"}));
  CHECK(c.tls.client_certificates == "none");
  // ... unless a CRL is given, which applies to client certificates.
  config_error e =
      single_error(load_set({"tls.enabled=true", "tls.cert_file=s.crt", "tls.key_file=s.key",
                             "tls.client_certificates=none", "tls.crl_file=r.crl"}));
  CHECK(e.key == "tls.ca_file");

  e = single_error(load_set({"tls.identity=serial"}));
  CHECK(e.key == "tls.identity");
  CHECK(e.message == "'tls.identity' must be one of cn, san_dns, san_uri; got \"serial\"");
}

TEST_CASE("config to_toml round trips") {
  node_config c;
  c.node.name = "quote \" backslash \\ tab \t newline \n unicode \xC3\xA9 bell \x07";
  c.node.data_dir = "C:\\convoy\\data";
  c.log.level = "critical";
  c.mqtt.bind = "::";
  c.mqtt.port = 0;
  c.mqtt.max_packet_size = 268'435'460;
  c.mqtt.max_outbound_bytes = 268'435'460;
  c.mqtt.max_session_expiry = 4'294'967'295u;
  c.mqtt.retain_available = false;
  c.mqtt.subscription_identifiers = false;
  c.mqtt.maximum_qos = 0;
  c.broker.topic_shards = 65536;
  c.broker.actor_threads = 12;
  std::string text = to_toml(c);
  CAPTURE(text);
  CHECK(expect_config(load_file(text)) == c);
  CHECK(expect_config(load_file(to_toml(node_config{}))) == node_config{});
  CHECK(text.find("[mqtt]\nbind = \"::\"\nport = 0\n") != std::string::npos);
}

TEST_CASE("config example file documents every key and loads to the defaults") {
  const fs::path path = example_path();
  CAPTURE(path.string());
  REQUIRE(fs::exists(path));
  const std::string text = read_all(path);

  // The file is exactly what the table generates, descriptions included. To
  // update it after changing the table, copy the file named below over it.
  const std::string generated = example_toml();
  if (text != generated) {
    fs::path fresh = fs::temp_directory_path() / "convoy.example.toml";
    std::ofstream(fresh, std::ios::binary) << generated;
    FAIL_CHECK("config/convoy.example.toml is out of date; regenerated copy: " << fresh.string());
  }

  // Every key appears as `name = default` inside its [section]; the keys
  // local-only mode decides as `# name = default`, unset.
  for (const key_info& k : config_keys()) {
    CAPTURE(k.key);
    std::size_t section = text.find("\n[" + std::string(k.section()) + "]\n");
    REQUIRE(section != std::string::npos);
    std::size_t next = text.find("\n[", section + 1);
    const bool local_only = is_local_only_key(k.key);
    std::string line = (local_only ? "\n# " : "\n") + std::string(k.name()) + " = " +
                       format_toml_value(k.get(node_config{})) + "\n";
    std::size_t at = text.find(line, section);
    CHECK(at != std::string::npos);
    CHECK(at < next);
  }

  // A copy of the file is a node in local-only mode, like no file at all.
  CHECK(expect_config(load_config({.file = path.string()})) == loaded_defaults());
}

TEST_CASE("config production example loads and lets nobody in anonymously") {
  const fs::path path = source_root() / "config" / "convoy.production.toml";
  CAPTURE(path.string());
  node_config c = expect_config(load_config({.file = path.string()}));
  CHECK_FALSE(c.auth.allow_anonymous);
  CHECK_FALSE(c.auth.password_file.empty());
  CHECK(c.storage.sync == "sync");
}

TEST_CASE("config docs/CONFIG.md lists every key with type, default and variable") {
  const fs::path path = source_root() / "docs" / "CONFIG.md";
  CAPTURE(path.string());
  REQUIRE(fs::exists(path));
  const std::string text = read_all(path);
  for (const key_info& k : config_keys()) {
    std::string row = "| `" + std::string(k.key) + "` | " + k.type_description() + " | `" +
                      format_toml_value(k.get(node_config{})) + "` | `" + k.env_name() + "` |\n";
    CHECK_MESSAGE(text.find(row) != std::string::npos, "missing or outdated row: " << row);
  }
}

TEST_CASE("config describe_keys lists every key with type, default and variable") {
  const std::string help = describe_keys();
  for (const key_info& k : config_keys()) {
    CAPTURE(k.key);
    CHECK(help.find(std::string(k.key)) != std::string::npos);
    CHECK(help.find(k.env_name()) != std::string::npos);
    CHECK(help.find(std::string(k.description.substr(0, 20))) != std::string::npos);
  }
  CHECK(help.find("integer 0..65535") != std::string::npos);
  CHECK(help.find("Values: trace, debug, info, warn, error, critical, off.") != std::string::npos);
  CHECK(help.find("\"convoy-1\"") != std::string::npos);
}

TEST_CASE("config error to_string names the key once") {
  CHECK(config_error{"mqtt.port", "--port", "bad value"}.to_string() ==
        "--port: key 'mqtt.port': bad value");
  CHECK(config_error{"mqtt.port", "x.toml:3", "'mqtt.port' is wrong"}.to_string() ==
        "x.toml:3: 'mqtt.port' is wrong");
  CHECK(config_error{"", "", "bad"}.to_string() == "bad");
}

TEST_CASE("config commands: the notification topic and the timeout bounds") {
  CHECK(expect_config(load_set({"commands.notification_topic=fleet/{subject}/{name}/{id}"}))
            .commands.notification_topic == "fleet/{subject}/{name}/{id}");
  CHECK(expect_config(load_set({"commands.notification_topic="})).commands.notification_topic ==
        "");
  for (const char* bad :
       {"commands.notification_topic=services/+/x", "commands.notification_topic=services/{owner}",
        "commands.notification_topic=$SYS/commands"}) {
    CAPTURE(bad);
    config_error e = single_error(load_set({bad}));
    CHECK(e.key == "commands.notification_topic");
    CHECK(e.message.find("must be a topic name") != std::string::npos);
  }
  config_error e = single_error(
      load_set({"commands.default_timeout_seconds=100", "commands.max_timeout_seconds=10"}));
  CHECK(e.key == "commands.default_timeout_seconds");  // the low one, both being set
}

TEST_CASE("config cluster: etcd endpoints, names etcd can key on, an address peers can reach") {
  node_config c = expect_config(load_set({"cluster.etcd=http://10.0.0.1:2379,http://etcd-2:2379",
                                          "cluster.name=eu-1", "node.name=node.a_1"}));
  CHECK(c.cluster.etcd == "http://10.0.0.1:2379,http://etcd-2:2379");
  // Alone, a node's names are not etcd keys.
  CHECK(expect_config(load_set({"node.name=edge/7"})).node.name == "edge/7");

  struct bad_case {
    std::vector<std::string> set;
    std::string key;
    std::string says;
  };
  for (const auto& [set, key, says] : std::vector<bad_case>{
           {{"cluster.etcd=https://e:2379"}, "cluster.etcd", "'https://e:2379' is not one"},
           {{"cluster.etcd=http://e"}, "cluster.etcd", "'http://e' is not one"},
           {{"cluster.etcd=http://e:2379,"}, "cluster.etcd", "'' is not one"},
           {{"cluster.etcd=http://e:2379/v3"}, "cluster.etcd", "is not one"},
           {{"cluster.etcd=http://e:2379", "cluster.name=eu/1"}, "cluster.name", "got 'eu/1'"},
           {{"cluster.etcd=http://e:2379", "node.name=a b"}, "node.name", "got 'a b'"},
           {{"cluster.etcd=http://e:2379", "cluster.bind=0.0.0.0"},
            "cluster.advertise",
            "wildcard address 0.0.0.0"},
           {{"cluster.heartbeat_interval_ms=5000"},
            "cluster.connection_timeout_ms",
            "must exceed 'cluster.heartbeat_interval_ms' (5000)"},
       }) {
    CAPTURE(set.front());
    config_error e = single_error(load_set(set));
    CHECK(e.key == key);
    CHECK_MESSAGE(e.message.find(says) != std::string::npos, e.message);
  }
  CHECK(expect_config(load_set({"cluster.etcd=http://e:2379", "cluster.bind=0.0.0.0",
                                "cluster.advertise=10.1.2.3"}))
            .cluster.advertise == "10.1.2.3");
}
