#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace convoy::config {

// Every key of the node configuration with its embedded default. The TOML
// file, then CONVOY_* environment variables, then --set key=value options on
// the command line override these, in that order. Keys are dotted paths of
// the TOML tables, e.g. "mqtt.port".
//
// Loading, checking, describing and printing live in config/loader.hpp; the
// key table that drives them (names, ranges, descriptions) is in
// config/schema.cpp. A field added here needs a key there as well: the config
// unit tests stop compiling until it has one.
struct node_config {
  struct node_section {
    std::string name = "convoy-1";
    std::string data_dir = "./data";
    bool operator==(const node_section&) const = default;
  } node;

  struct log_section {
    std::string level = "info";  // trace, debug, info, warn, error, critical, off
    bool operator==(const log_section&) const = default;
  } log;

  struct mqtt_section {
    std::string bind = "0.0.0.0";
    std::uint16_t port = 1883;
    std::uint32_t max_packet_size = 1'048'576;  // bytes, whole packet, both directions
    std::uint16_t receive_maximum = 100;        // in-flight QoS 1/2 messages per client
    std::uint16_t max_inflight_messages = 64;   // QoS 1/2 messages in flight to one client
    std::uint16_t topic_alias_maximum = 16;     // aliases a client may define
    std::uint16_t max_keep_alive = 3600;        // seconds; larger client values are lowered
    std::uint16_t default_keep_alive = 0;  // server keep alive when the client asks 0; 0 = none
    std::uint32_t max_session_expiry = 86'400 * 7;   // seconds; larger client values are lowered
    std::uint32_t connect_timeout_ms = 10'000;       // time from accept to CONNECT
    std::uint32_t max_connections = 0;               // on this node; 0 = no limit
    std::uint32_t max_connect_rate_per_address = 0;  // per second; 0 = no limit
    std::uint32_t max_publish_rate = 0;        // PUBLISHes per second per client; 0 = no limit
    std::uint32_t max_publish_bytes_rate = 0;  // PUBLISH bytes per second per client; 0 = none
    std::uint32_t max_topic_levels = 0;        // levels of a topic or filter; 0 = no limit
    std::uint32_t max_subscriptions_per_client = 0;    // 0 = no limit
    std::uint32_t max_queued_messages = 1000;          // per session, while offline or window full
    std::uint32_t max_queued_bytes = 16 * 1'048'576;   // per session
    bool queue_qos0_messages = false;                  // offline persistent sessions queue QoS 0
    std::uint32_t max_outbound_bytes = 4 * 1'048'576;  // per connection write backlog
    bool retain_available = true;
    bool wildcard_subscriptions = true;
    bool shared_subscriptions = true;
    bool subscription_identifiers = true;
    std::uint8_t maximum_qos = 2;
    bool operator==(const mqtt_section&) const = default;
  } mqtt;

  struct broker_section {
    std::uint32_t topic_shards = 8;
    std::uint32_t shard_key_levels = 2;  // topic levels that pick a shard
    std::uint32_t io_threads = 1;
    std::uint32_t actor_threads = 0;  // 0 = one per core
    bool operator==(const broker_section&) const = default;
  } broker;

  struct storage_section {
    bool enabled = true;
    std::uint32_t map_size_mb = 1024;       // most the LMDB data file may grow to
    std::string sync = "sync";              // sync, nosync
    std::uint32_t commit_window_us = 1000;  // a write waits this long for others to share its sync
    std::uint32_t max_batch_ops = 4096;     // writes per group commit
    std::uint32_t max_pending_ops = 65536;  // writes waiting for the writer
    bool operator==(const storage_section&) const = default;
  } storage;

  struct auth_section {
    // Clients without a username get in. For development: a node that allows
    // it says so loudly at start.
    bool allow_anonymous = true;
    std::string password_file;  // mosquitto_passwd format; empty: usernames are not checked
    std::uint32_t failure_delay_ms = 1000;        // a refused login waits this long for its CONNACK
    std::uint32_t max_failure_delay_ms = 30'000;  // the delay doubles per failure of an address
    std::string acl_file;  // roles and topic rules (TOML); empty: no authorization
    std::uint32_t reload_interval_ms = 5000;  // acl_file change checks; 0 = only on SIGHUP
    bool operator==(const auth_section&) const = default;
  } auth;

  struct tls_section {
    bool enabled = false;
    std::string bind = "0.0.0.0";
    std::uint16_t port = 8883;
    std::string cert_file;  // PEM: the server's certificate, then its chain
    std::string key_file;   // PEM: its private key
    std::string ca_file;    // PEM: the CAs client certificates must chain to
    std::string crl_file;   // PEM: revoked client certificates; empty: no revocation check
    std::string client_certificates = "required";  // none, optional, required
    std::string min_version = "1.2";               // 1.2, 1.3
    std::string identity = "cn";                   // cn, san_dns, san_uri
    std::uint32_t reload_interval_ms = 5000;       // file change checks; 0 = only on SIGHUP
    bool operator==(const tls_section&) const = default;
  } tls;

  struct websocket_section {
    bool enabled = true;
    std::string bind = "0.0.0.0";
    std::uint16_t port = 8083;
    std::string path = "/mqtt";
    bool tls_enabled = false;  // wss, with the certificates of [tls]
    std::uint16_t tls_port = 8084;
    std::string allowed_origins;  // comma-separated; empty: any origin
    bool operator==(const websocket_section&) const = default;
  } websocket;

  struct jwt_section {
    bool enabled = false;
    std::string hs256_secret_file;  // HS256: the shared secret (at least 32 bytes)
    std::string public_key_file;    // RS256 or ES256: the issuer's public key (PEM)
    std::string issuer;             // iss must equal it; empty: not checked
    std::string audience;           // aud must hold it; empty: not checked
    std::string identity_claim = "sub";
    std::uint32_t leeway_s = 30;  // clock skew allowed for exp and nbf
    bool operator==(const jwt_section&) const = default;
  } jwt;

  struct registry_section {
    // Vehicles logging in by certificate must be registered and active, and
    // connect from an active device of theirs.
    bool required = false;
    std::uint32_t shards = 4;  // registry shard actors (by hash of VIN)
    bool operator==(const registry_section&) const = default;
  } registry;

  struct consent_section {
    std::string purposes_file;  // TOML catalog of purposes; empty: the built-in one
    std::uint32_t shards = 4;   // consent shard actors (by hash of VIN)
    std::uint32_t max_cached_vehicles = 100'000;  // per shard
    std::string service_roles = "service";        // comma-separated roles of consent-gated clients
    bool operator==(const consent_section&) const = default;
  } consent;

  struct state_section {
    bool enabled = true;  // last known vehicle state from vehicles/+/telemetry/#
    std::uint32_t shards = 4;
    std::uint32_t history_size = 100;             // latest field changes kept per vehicle
    std::uint32_t max_cached_vehicles = 100'000;  // per shard
    bool operator==(const state_section&) const = default;
  } state;

  struct rules_section {
    std::string file;         // TOML telemetry routing rules; empty: none
    std::string archive_dir;  // where archives keep their segments; empty: data_dir/archive
    std::uint32_t max_inflated_bytes = 1'048'576;  // a gzip payload inflates to at most this
    std::uint32_t workers = 4;                     // rule worker actors (republish), by hash of VIN
    std::uint32_t max_api_definitions = 256;       // rules, webhooks and archives made over the API
    bool operator==(const rules_section&) const = default;
  } rules;

  struct commands_section {
    bool enabled = true;  // remote command workflows (POST /api/v1/vehicles/{vin}/commands)
    std::uint32_t shards = 4;
    bool require_consent = true;  // a command runs only with the requester's consent
    std::uint32_t default_timeout_seconds = 30;
    std::uint32_t max_timeout_seconds = 3600;
    std::uint32_t max_ttl_seconds = 7 * 86'400;
    std::uint32_t max_active = 100'000;
    std::uint32_t max_active_per_vehicle = 16;
    std::uint32_t retention_hours = 7 * 24;
    std::string notification_topic = "services/commands/{vin}/{id}";
    bool operator==(const commands_section&) const = default;
  } commands;

  struct http_section {
    bool enabled = true;
    std::string bind = "127.0.0.1";
    std::uint16_t port = 8080;
    std::string api_keys_file;               // "name sha256-hex" lines; empty: no API keys
    std::string operator_role = "operator";  // JWT role that may use the API
    bool metrics_require_auth = false;       // /metrics, /healthz, /readyz need credentials
    std::uint32_t max_body_bytes = 1'048'576;
    std::uint32_t max_connections = 256;
    std::uint32_t request_timeout_ms = 5000;  // longest an API request waits for actors
    bool operator==(const http_section&) const = default;
  } http;

  struct cluster_section {
    std::string etcd;                // http://host:port of etcd, comma-separated; empty: alone
    std::string name = "convoy";     // members register under /convoy/<name>/ in etcd
    std::string bind = "127.0.0.1";  // the listener for other nodes (CAF's BASP)
    std::uint16_t port = 0;          // 0: the OS picks; members find it in etcd
    std::string advertise;           // host other nodes reach this one at; empty: bind
    std::uint32_t lease_ttl_seconds = 5;
    std::uint32_t heartbeat_interval_ms = 1000;  // BASP heartbeats between nodes
    std::uint32_t connection_timeout_ms = 5000;  // a silent link is closed after this
    // What one topic shard may have on its way to the same slice's shard on
    // one member before it drops (QoS 0) or refuses (QoS 1/2).
    std::uint32_t peer_window_messages = 1000;
    std::uint32_t peer_window_bytes = 4 * 1'048'576;
    // Slices of the client-id space, each with the session directory of
    // its owner; every member needs the same number.
    std::uint32_t client_slices = 16;
    bool operator==(const cluster_section&) const = default;
  } cluster;

  bool operator==(const node_config&) const = default;
};

struct config_error {
  std::string key;      // dotted key, empty when the error is not about one key
  std::string source;   // "file.toml:12", "env CONVOY_MQTT_PORT", "--set", ...
  std::string message;  // what is wrong
  // "source: message", with "key 'k': " put in between unless the message
  // already names the key in quotes, e.g.
  //   convoy.toml:12: unknown key 'mqtt.prot' (did you mean 'mqtt.port'?)
  std::string to_string() const;
};

}  // namespace convoy::config
