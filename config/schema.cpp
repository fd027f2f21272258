#include "config/schema.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <limits>
#include <type_traits>
#include <utility>

namespace convoy::config {

namespace {

// Typed access to one field, node_config.*Section.*Member, for the table.
template <auto Section, auto Member>
struct field {
  static auto& ref(node_config& c) { return c.*Section.*Member; }
  using type = std::remove_cvref_t<decltype(ref(std::declval<node_config&>()))>;

  static value get(const node_config& c) {
    const type& v = c.*Section.*Member;
    if constexpr (std::is_same_v<type, std::string>) {
      return v;
    } else if constexpr (std::is_same_v<type, bool>) {
      return v;
    } else {
      return static_cast<std::int64_t>(v);
    }
  }

  static void set(node_config& c, const value& v) {
    if constexpr (std::is_same_v<type, std::string> || std::is_same_v<type, bool>) {
      ref(c) = std::get<type>(v);
    } else {
      ref(c) = static_cast<type>(std::get<std::int64_t>(v));
    }
  }
};

template <auto Section, auto Member>
constexpr key_info string_key(std::string_view key, std::string_view description,
                              std::span<const std::string_view> choices = {}) {
  using f = field<Section, Member>;
  static_assert(std::is_same_v<typename f::type, std::string>);
  // For strings, min is the least length: 1, a name or path must be given.
  return {key, value_type::string, description, 1, 0, choices, &f::get, &f::set};
}

// A string key that may be empty (a feature left off).
template <auto Section, auto Member>
constexpr key_info optional_string_key(std::string_view key, std::string_view description) {
  using f = field<Section, Member>;
  static_assert(std::is_same_v<typename f::type, std::string>);
  return {key, value_type::string, description, 0, 0, {}, &f::get, &f::set};
}

template <auto Section, auto Member>
constexpr key_info bool_key(std::string_view key, std::string_view description) {
  using f = field<Section, Member>;
  static_assert(std::is_same_v<typename f::type, bool>);
  return {key, value_type::boolean, description, 0, 0, {}, &f::get, &f::set};
}

// Integer keys default to the whole range of the field's type; a narrower
// range must lie inside it, so the cast in field::set never truncates.
template <auto Section, auto Member>
constexpr key_info integer_key(
    std::string_view key, std::string_view description,
    std::int64_t min = std::numeric_limits<typename field<Section, Member>::type>::min(),
    std::int64_t max = std::numeric_limits<typename field<Section, Member>::type>::max()) {
  using f = field<Section, Member>;
  using t = typename f::type;
  static_assert(std::is_integral_v<t> && !std::is_same_v<t, bool>);
  static_assert(sizeof(t) < sizeof(std::int64_t) || std::is_signed_v<t>);
  if (min < static_cast<std::int64_t>(std::numeric_limits<t>::min()) ||
      max > static_cast<std::int64_t>(std::numeric_limits<t>::max()) || min > max) {
    throw "integer_key: range does not fit the field's type";  // fails constant evaluation
  }
  return {key, value_type::integer, description, min, max, {}, &f::get, &f::set};
}

using nc = node_config;

constexpr std::array<std::string_view, 2> sync_modes = {"sync", "nosync"};

// 16 TiB: more than a node's disk, small enough to catch a typo in units.
constexpr std::int64_t max_map_size_mb = 16 * 1024 * 1024;

constexpr std::array<std::string_view, 3> client_certificate_modes = {"none", "optional",
                                                                      "required"};
constexpr std::array<std::string_view, 2> tls_versions = {"1.2", "1.3"};
constexpr std::array<std::string_view, 3> certificate_identities = {"cn", "san_dns", "san_uri"};

constexpr std::array<std::string_view, 7> log_levels = {"trace", "debug",    "info", "warn",
                                                        "error", "critical", "off"};

// 268,435,455 bytes of remaining length (the largest Variable Byte Integer)
// plus one byte of packet type and four of remaining length.
constexpr std::int64_t mqtt_packet_size_limit = 268'435'460;

constexpr auto keys = std::to_array<key_info>({
    // [node]
    string_key<&nc::node, &nc::node_section::name>(
        "node.name", "Name of this node, unique within a cluster; it appears in logs and metrics."),
    string_key<&nc::node, &nc::node_section::data_dir>(
        "node.data_dir", "Directory for the node's persistent state."),

    // [log]
    string_key<&nc::log, &nc::log_section::level>("log.level", "Least severe level that is logged.",
                                                  log_levels),

    // [mqtt]
    string_key<&nc::mqtt, &nc::mqtt_section::bind>(
        "mqtt.bind",
        "Address the MQTT listener binds to; 0.0.0.0 is every IPv4 interface, :: every IPv6 one. "
        "With anonymous logins allowed and no auth.acl_file the default is 127.0.0.1 (local-only "
        "mode); an address set explicitly is kept."),
    integer_key<&nc::mqtt, &nc::mqtt_section::port>(
        "mqtt.port", "TCP port of the MQTT listener; 0 lets the operating system pick a free one."),
    integer_key<&nc::mqtt, &nc::mqtt_section::max_packet_size>(
        "mqtt.max_packet_size",
        "Largest MQTT packet in bytes, fixed header included, accepted from and sent to clients "
        "(Maximum Packet Size). 268435460 is the protocol's own limit.",
        64, mqtt_packet_size_limit),
    integer_key<&nc::mqtt, &nc::mqtt_section::receive_maximum>(
        "mqtt.receive_maximum",
        "QoS 1 and 2 messages a client may have in flight at once (Receive Maximum).", 1, 65535),
    integer_key<&nc::mqtt, &nc::mqtt_section::max_inflight_messages>(
        "mqtt.max_inflight_messages",
        "QoS 1 and 2 messages the broker has in flight to one client at once; a smaller Receive "
        "Maximum of the client wins. Further messages wait in the session queue.",
        1, 65535),
    integer_key<&nc::mqtt, &nc::mqtt_section::topic_alias_maximum>(
        "mqtt.topic_alias_maximum",
        "Topic aliases a client may define (Topic Alias Maximum); 0 turns topic aliases off."),
    integer_key<&nc::mqtt, &nc::mqtt_section::max_keep_alive>(
        "mqtt.max_keep_alive",
        "Longest keep alive in seconds; a client asking for more is told this value (Server Keep "
        "Alive)."),
    integer_key<&nc::mqtt, &nc::mqtt_section::default_keep_alive>(
        "mqtt.default_keep_alive",
        "Keep alive in seconds the broker assigns to a client that asks for 0; 0 means none. At "
        "most mqtt.max_keep_alive."),
    integer_key<&nc::mqtt, &nc::mqtt_section::max_session_expiry>(
        "mqtt.max_session_expiry",
        "Longest session expiry interval in seconds; larger values asked for by clients are "
        "lowered to it."),
    integer_key<&nc::mqtt, &nc::mqtt_section::connect_timeout_ms>(
        "mqtt.connect_timeout_ms",
        "Milliseconds a new connection has to send CONNECT before it is closed.", 1,
        std::numeric_limits<std::uint32_t>::max()),
    integer_key<&nc::mqtt, &nc::mqtt_section::max_connections>(
        "mqtt.max_connections",
        "Connections the node holds at most; the next CONNECT gets Server busy (0x89, 3.1.1: 3). "
        "0: no limit."),
    integer_key<&nc::mqtt, &nc::mqtt_section::max_connect_rate_per_address>(
        "mqtt.max_connect_rate_per_address",
        "New connections per second from one source address (with a burst of as many); beyond "
        "it the CONNECT gets Connection rate exceeded (0x9F, 3.1.1: 3). 0: no limit."),
    integer_key<&nc::mqtt, &nc::mqtt_section::max_publish_rate>(
        "mqtt.max_publish_rate",
        "PUBLISH packets a client may send per second (bursts up to one second's worth); a client "
        "above it is disconnected with Message rate too high (0x96). 0: no limit."),
    integer_key<&nc::mqtt, &nc::mqtt_section::max_publish_bytes_rate>(
        "mqtt.max_publish_bytes_rate",
        "PUBLISH bytes a client may send per second (bursts up to one second's worth, and at "
        "least one packet of mqtt.max_packet_size); above it, Message rate too high (0x96). 0: no "
        "limit."),
    integer_key<&nc::mqtt, &nc::mqtt_section::max_topic_levels>(
        "mqtt.max_topic_levels",
        "Most levels a topic or topic filter may have; longer ones are refused (PUBLISH: "
        "PUBACK/PUBREC 0x90, SUBSCRIBE: SUBACK 0x8F). 0: no limit."),
    integer_key<&nc::mqtt, &nc::mqtt_section::max_subscriptions_per_client>(
        "mqtt.max_subscriptions_per_client",
        "Subscriptions one session may hold; more are refused with Quota exceeded (0x97, 3.1.1: "
        "0x80). 0: no limit."),
    integer_key<&nc::mqtt, &nc::mqtt_section::max_queued_messages>(
        "mqtt.max_queued_messages",
        "Messages queued per session while its client is offline or its in-flight window is "
        "full."),
    integer_key<&nc::mqtt, &nc::mqtt_section::max_queued_bytes>(
        "mqtt.max_queued_bytes", "Bytes queued per session, under the same conditions."),
    bool_key<&nc::mqtt, &nc::mqtt_section::queue_qos0_messages>(
        "mqtt.queue_qos0_messages",
        "Whether QoS 0 messages are queued for offline persistent sessions as well. They are "
        "kept in memory only, and a full queue drops its oldest QoS 0 message first."),
    integer_key<&nc::mqtt, &nc::mqtt_section::max_outbound_bytes>(
        "mqtt.max_outbound_bytes",
        "Bytes waiting to be written to one connection. At least mqtt.max_packet_size, so that "
        "one largest packet fits."),
    bool_key<&nc::mqtt, &nc::mqtt_section::retain_available>(
        "mqtt.retain_available", "Whether retained messages are supported (Retain Available)."),
    bool_key<&nc::mqtt, &nc::mqtt_section::wildcard_subscriptions>(
        "mqtt.wildcard_subscriptions",
        "Whether subscriptions may use the + and # wildcards (Wildcard Subscription Available)."),
    bool_key<&nc::mqtt, &nc::mqtt_section::shared_subscriptions>(
        "mqtt.shared_subscriptions",
        "Whether $share/ subscriptions are supported (Shared Subscription Available)."),
    bool_key<&nc::mqtt, &nc::mqtt_section::subscription_identifiers>(
        "mqtt.subscription_identifiers",
        "Whether subscription identifiers are supported (Subscription Identifiers Available)."),
    integer_key<&nc::mqtt, &nc::mqtt_section::maximum_qos>(
        "mqtt.maximum_qos", "Highest QoS the broker accepts and grants (Maximum QoS).", 0, 2),

    // [broker]
    integer_key<&nc::broker, &nc::broker_section::topic_shards>(
        "broker.topic_shards",
        "Topic-shard actors the topic space is split into; every node of a cluster must use the "
        "same number.",
        1, 65536),
    integer_key<&nc::broker, &nc::broker_section::shard_key_levels>(
        "broker.shard_key_levels",
        "Leading topic levels that pick a topic's shard: with 2, vehicles/{vin}/... of one "
        "vehicle stay on one shard. Every node of a cluster must use the same number.",
        1, std::numeric_limits<std::uint32_t>::max()),
    integer_key<&nc::broker, &nc::broker_section::io_threads>(
        "broker.io_threads", "Threads doing network I/O.", 1, 1024),
    integer_key<&nc::broker, &nc::broker_section::actor_threads>(
        "broker.actor_threads", "Threads running actors; 0 means one per CPU core.", 0, 1024),

    // [storage]
    bool_key<&nc::storage, &nc::storage_section::enabled>(
        "storage.enabled",
        "Whether persistent sessions, their queues and retained messages are stored in "
        "node.data_dir and survive a restart."),
    integer_key<&nc::storage, &nc::storage_section::map_size_mb>(
        "storage.map_size_mb",
        "Largest size in MiB the storage file may grow to (the LMDB map size). Writes beyond it "
        "fail with \"storage full\" until it is raised.",
        1, max_map_size_mb),
    string_key<&nc::storage, &nc::storage_section::sync>(
        "storage.sync",
        "When a write counts as done. sync: every group commit is flushed to disk first, so it "
        "survives power loss. nosync: the operating system flushes later; a killed node loses "
        "nothing, a power loss or kernel crash loses the most recent writes.",
        sync_modes),
    integer_key<&nc::storage, &nc::storage_section::commit_window_us>(
        "storage.commit_window_us",
        "Microseconds a write waits for others to share its transaction and disk flush; 0 "
        "commits at once whatever is pending.",
        0, 100'000),
    integer_key<&nc::storage, &nc::storage_section::max_batch_ops>(
        "storage.max_batch_ops",
        "Writes committed in one transaction at most; once this many are pending they are "
        "committed without waiting for the window to end.",
        1, std::numeric_limits<std::uint32_t>::max()),
    integer_key<&nc::storage, &nc::storage_section::max_pending_ops>(
        "storage.max_pending_ops",
        "Writes waiting to be committed at most; beyond it writes are refused (and counted) "
        "instead of queued.",
        1, std::numeric_limits<std::uint32_t>::max()),

    // [auth]
    bool_key<&nc::auth, &nc::auth_section::allow_anonymous>(
        "auth.allow_anonymous",
        "Whether clients that send no username are let in. Meant for development; refused "
        "clients get Not authorized (0x87, 3.1.1: 5)."),
    optional_string_key<&nc::auth, &nc::auth_section::password_file>(
        "auth.password_file",
        "File of 'username:hash' lines as mosquitto_passwd writes them (PBKDF2-SHA512 $7$, or "
        "SHA-512 $6$). A wrong username or password gets Bad User Name or Password (0x86, "
        "3.1.1: 4). Empty: usernames and passwords are not checked."),
    integer_key<&nc::auth, &nc::auth_section::failure_delay_ms>(
        "auth.failure_delay_ms",
        "Milliseconds a refused login waits for its CONNACK, which slows down password guessing.",
        0, 60'000),
    integer_key<&nc::auth, &nc::auth_section::max_failure_delay_ms>(
        "auth.max_failure_delay_ms",
        "Each further refused login from the same address within ten minutes waits twice as "
        "long, up to this many milliseconds.",
        0, 600'000),
    optional_string_key<&nc::auth, &nc::auth_section::acl_file>(
        "auth.acl_file",
        "TOML file of roles (the client ids, publish topics and subscribe filters their members "
        "may use, with {client_id}, {identity}, {vin} and {region} placeholders) and who has which "
        "role. Empty: every client may publish and subscribe to every topic but the $CONTROL "
        "topics (registry and operator requests), which only a role may be granted."),
    integer_key<&nc::auth, &nc::auth_section::reload_interval_ms>(
        "auth.reload_interval_ms",
        "How often auth.acl_file and rules.file are checked for changes; a changed file applies "
        "at once (access rules to connected clients too). 0: only on SIGHUP. A file that fails "
        "to load keeps the previous rules.",
        0, 3'600'000),

    // [tls]
    bool_key<&nc::tls, &nc::tls_section::enabled>(
        "tls.enabled", "Whether the MQTT over TLS listener runs (next to the plain TCP one)."),
    string_key<&nc::tls, &nc::tls_section::bind>("tls.bind",
                                                 "Address the MQTT over TLS listener binds "
                                                 "to. Local-only mode (see mqtt.bind) makes "
                                                 "the default 127.0.0.1."),
    integer_key<&nc::tls, &nc::tls_section::port>(
        "tls.port", "TCP port of the MQTT over TLS listener; 0 lets the operating system pick."),
    optional_string_key<&nc::tls, &nc::tls_section::cert_file>(
        "tls.cert_file",
        "PEM file with the server's certificate followed by its intermediate CAs. Needed when "
        "tls.enabled."),
    optional_string_key<&nc::tls, &nc::tls_section::key_file>(
        "tls.key_file", "PEM file with the server certificate's private key (unencrypted)."),
    optional_string_key<&nc::tls, &nc::tls_section::ca_file>(
        "tls.ca_file",
        "PEM file with the CAs that client certificates must chain to. Needed unless "
        "tls.client_certificates is none."),
    optional_string_key<&nc::tls, &nc::tls_section::crl_file>(
        "tls.crl_file",
        "PEM file with certificate revocation lists of those CAs; a revoked client certificate "
        "fails the handshake, and clients already connected with it are disconnected when the "
        "file changes. Empty: no revocation check."),
    string_key<&nc::tls, &nc::tls_section::client_certificates>(
        "tls.client_certificates",
        "Whether clients must present a certificate (mutual TLS). optional: clients without one "
        "log in with a username and password instead.",
        client_certificate_modes),
    string_key<&nc::tls, &nc::tls_section::min_version>(
        "tls.min_version", "Oldest TLS version accepted.", tls_versions),
    string_key<&nc::tls, &nc::tls_section::identity>(
        "tls.identity",
        "Field of a client certificate that names the device: its subject CN, or its first DNS "
        "or URI subject alternative name. The identity is the client's username.",
        certificate_identities),
    integer_key<&nc::tls, &nc::tls_section::reload_interval_ms>(
        "tls.reload_interval_ms",
        "How often the certificate, key, CA and CRL files are checked for changes and reloaded "
        "without a restart; 0: only on SIGHUP. A file that fails to load keeps the previous one.",
        0, 3'600'000),

    // [websocket]
    bool_key<&nc::websocket, &nc::websocket_section::enabled>(
        "websocket.enabled",
        "Whether the MQTT over WebSocket listener runs, for browsers and companion apps."),
    string_key<&nc::websocket, &nc::websocket_section::bind>(
        "websocket.bind",
        "Address the WebSocket listeners bind to. Local-only mode (see mqtt.bind) makes the "
        "default 127.0.0.1."),
    integer_key<&nc::websocket, &nc::websocket_section::port>(
        "websocket.port",
        "TCP port of MQTT over WebSocket (ws); 0 lets the operating system pick."),
    string_key<&nc::websocket, &nc::websocket_section::path>(
        "websocket.path", "Request path of the WebSocket endpoint; other paths are answered 404."),
    bool_key<&nc::websocket, &nc::websocket_section::tls_enabled>(
        "websocket.tls_enabled",
        "Whether MQTT over secure WebSocket (wss) runs, with the certificate, client "
        "certificate and version settings of [tls]."),
    integer_key<&nc::websocket, &nc::websocket_section::tls_port>(
        "websocket.tls_port",
        "TCP port of MQTT over secure WebSocket (wss); 0 lets the operating system pick."),
    optional_string_key<&nc::websocket, &nc::websocket_section::allowed_origins>(
        "websocket.allowed_origins",
        "Comma-separated origins browsers may connect from (e.g. "
        "\"https://fleet.example.com\"); others are answered 403. Empty: any origin. Clients "
        "that send no Origin header are not browsers and are not affected."),

    // [jwt]
    bool_key<&nc::jwt, &nc::jwt_section::enabled>(
        "jwt.enabled",
        "Whether cloud services may log in with a JSON Web Token: as the CONNECT password, or in "
        "MQTT 5 as Authentication Data with Authentication Method JWT (then AUTH re-authenticates "
        "with a fresh token). A connection is closed when its token expires."),
    optional_string_key<&nc::jwt, &nc::jwt_section::hs256_secret_file>(
        "jwt.hs256_secret_file",
        "File holding the HS256 shared secret (at least 32 bytes). HS256 tokens are accepted "
        "only with it."),
    optional_string_key<&nc::jwt, &nc::jwt_section::public_key_file>(
        "jwt.public_key_file",
        "PEM public key of the token issuer: RSA for RS256 or P-256 for ES256 tokens."),
    optional_string_key<&nc::jwt, &nc::jwt_section::issuer>(
        "jwt.issuer", "Required iss claim; empty: not checked."),
    optional_string_key<&nc::jwt, &nc::jwt_section::audience>(
        "jwt.audience", "Required aud claim (or one of them); empty: not checked."),
    string_key<&nc::jwt, &nc::jwt_section::identity_claim>(
        "jwt.identity_claim", "Claim that names the service: its identity and username."),
    integer_key<&nc::jwt, &nc::jwt_section::leeway_s>(
        "jwt.leeway_s", "Seconds of clock skew allowed when checking exp and nbf.", 0, 3600),

    // [registry]
    bool_key<&nc::registry, &nc::registry_section::required>(
        "registry.required",
        "Whether vehicles that log in with a client certificate must be in the device registry: "
        "the VIN (their identity) registered and active, the certificate that of an active device "
        "of it. Others get Not authorized (0x87, 3.1.1: 5); a device suspended, replaced or "
        "revoked while connected is disconnected (Administrative action, 0x98)."),
    integer_key<&nc::registry, &nc::registry_section::shards>(
        "registry.shards", "Registry shard actors; vehicles are spread over them by VIN.", 1, 1024),

    // [consent]
    optional_string_key<&nc::consent, &nc::consent_section::purposes_file>(
        "consent.purposes_file",
        "TOML file of the purposes consents are given for: [purposes.NAME] with the telemetry "
        "topics (filters below vehicles/{vin}/) and command names each covers. Empty: the "
        "built-in telemetry, location, diagnostics and remote-control."),
    integer_key<&nc::consent, &nc::consent_section::shards>(
        "consent.shards", "Consent shard actors; vehicles are spread over them by VIN.", 1, 1024),
    integer_key<&nc::consent, &nc::consent_section::max_cached_vehicles>(
        "consent.max_cached_vehicles",
        "Vehicles whose consents one shard keeps in memory; others are read from storage when "
        "needed.",
        1, 100'000'000),
    optional_string_key<&nc::consent, &nc::consent_section::service_roles>(
        "consent.service_roles",
        "Comma-separated roles (of auth.acl_file) whose clients are services: telemetry a "
        "consent purpose covers reaches their subscriptions only while the vehicle's consent "
        "for their identity and that purpose is in force. Empty: no client is checked."),

    // [state]
    bool_key<&nc::state, &nc::state_section::enabled>(
        "state.enabled",
        "Whether the node keeps each vehicle's last known state from its telemetry "
        "(vehicles/{vin}/telemetry/...): every field with its time, and a short history."),
    integer_key<&nc::state, &nc::state_section::shards>(
        "state.shards", "Vehicle state shard actors; vehicles are spread over them by VIN.", 1,
        1024),
    integer_key<&nc::state, &nc::state_section::history_size>(
        "state.history_size", "Latest field changes kept per vehicle.", 1, 100'000),
    integer_key<&nc::state, &nc::state_section::max_cached_vehicles>(
        "state.max_cached_vehicles",
        "Vehicle states one shard keeps in memory; others are read from storage when needed.", 1,
        100'000'000),

    // [rules]
    optional_string_key<&nc::rules, &nc::rules_section::file>(
        "rules.file",
        "TOML file of telemetry routing rules ([[rule]] with topic, user_properties, where, "
        "format, actions; [archive.NAME]). Messages matching no rule go to their subscribers and, "
        "telemetry, to the vehicle state. Empty: no rules."),
    optional_string_key<&nc::rules, &nc::rules_section::archive_dir>(
        "rules.archive_dir",
        "Directory of the archives' segment files, one subdirectory per archive. Empty: "
        "node.data_dir/archive."),
    integer_key<&nc::rules, &nc::rules_section::max_inflated_bytes>(
        "rules.max_inflated_bytes",
        "Largest size a gzip payload may inflate to when a rule reads it; larger ones match no "
        "rule that reads payloads.",
        1024, 256 * 1'048'576),
    integer_key<&nc::rules, &nc::rules_section::workers>(
        "rules.workers",
        "Rule worker actors that check, enrich and republish high-priority telemetry; vehicles "
        "are spread over them by VIN.",
        1, 1024),
    integer_key<&nc::rules, &nc::rules_section::max_api_definitions>(
        "rules.max_api_definitions",
        "Most rules, webhooks and archives the management API may hold together (every message "
        "is checked against every rule); a PUT beyond it is refused with 409.",
        0, 100'000),

    // [commands]
    bool_key<&nc::commands, &nc::commands_section::enabled>(
        "commands.enabled",
        "Whether the node runs remote command workflows: POST /api/v1/vehicles/{vin}/commands "
        "publishes to vehicles/{vin}/commands/{name} and follows the vehicle's reports."),
    integer_key<&nc::commands, &nc::commands_section::shards>(
        "commands.shards", "Command shard actors; vehicles are spread over them by VIN.", 1, 1024),
    bool_key<&nc::commands, &nc::commands_section::require_consent>(
        "commands.require_consent",
        "Whether a command runs only when its requester (the subject) has the vehicle's consent "
        "for a purpose covering the command; otherwise it is rejected."),
    integer_key<&nc::commands, &nc::commands_section::default_timeout_seconds>(
        "commands.default_timeout_seconds",
        "Time a sent command has for the vehicle's final report when the request gives none.", 1,
        86'400),
    integer_key<&nc::commands, &nc::commands_section::max_timeout_seconds>(
        "commands.max_timeout_seconds", "Longest timeout a request may ask for.", 1, 604'800),
    integer_key<&nc::commands, &nc::commands_section::max_ttl_seconds>(
        "commands.max_ttl_seconds",
        "Longest store-and-forward TTL a request may ask for: how long a command waits for an "
        "offline vehicle.",
        0, 30 * 86'400),
    integer_key<&nc::commands, &nc::commands_section::max_active>(
        "commands.max_active", "Commands on their way at once on this node; more are answered 503.",
        1, 100'000'000),
    integer_key<&nc::commands, &nc::commands_section::max_active_per_vehicle>(
        "commands.max_active_per_vehicle",
        "Commands on their way at once for one vehicle; more are answered 429.", 1, 10'000),
    integer_key<&nc::commands, &nc::commands_section::retention_hours>(
        "commands.retention_hours",
        "How long finished commands and their timelines are kept (and idempotency keys "
        "remembered).",
        1, 87'600),
    optional_string_key<&nc::commands, &nc::commands_section::notification_topic>(
        "commands.notification_topic",
        "Topic each event of a command is published to (QoS 1, JSON); {vin}, {id}, {name} and "
        "{subject} stand for the command's values. Empty: no notifications."),

    // [http]
    bool_key<&nc::http, &nc::http_section::enabled>(
        "http.enabled",
        "Whether the HTTP listener runs: the management API under /api/v1, Prometheus metrics at "
        "/metrics, and /healthz and /readyz."),
    string_key<&nc::http, &nc::http_section::bind>(
        "http.bind",
        "Address the HTTP listener binds to. Without http.api_keys_file or [jwt] the API takes "
        "requests without credentials, which only a loopback address allows."),
    integer_key<&nc::http, &nc::http_section::port>(
        "http.port", "TCP port of the HTTP listener; 0 lets the operating system pick."),
    optional_string_key<&nc::http, &nc::http_section::api_keys_file>(
        "http.api_keys_file",
        "File of API keys, one \"name sha256-hex\" line each (`convoy api-key NAME` makes "
        "one); clients send the key as X-API-Key or Authorization: Bearer. Reread on change."),
    string_key<&nc::http, &nc::http_section::operator_role>(
        "http.operator_role",
        "Role a bearer JWT (checked with the [jwt] keys) must carry in its \"role\" claim or "
        "\"roles\" array to use the API."),
    bool_key<&nc::http, &nc::http_section::metrics_require_auth>(
        "http.metrics_require_auth",
        "Whether /metrics, /healthz and /readyz need the API's credentials too."),
    integer_key<&nc::http, &nc::http_section::max_body_bytes>(
        "http.max_body_bytes", "Largest request body; larger ones are answered 413.", 1024,
        64 * 1'048'576),
    integer_key<&nc::http, &nc::http_section::max_connections>(
        "http.max_connections", "Open HTTP connections at most; more are answered 503.", 1,
        100'000),
    integer_key<&nc::http, &nc::http_section::request_timeout_ms>(
        "http.request_timeout_ms", "Longest an API request waits for the actors it asks; then 504.",
        100, 600'000),

    // [cluster]
    optional_string_key<&nc::cluster, &nc::cluster_section::etcd>(
        "cluster.etcd",
        "etcd endpoints (http://host:port, comma-separated) through which this node joins its "
        "cluster; empty: the node runs alone and needs no etcd."),
    string_key<&nc::cluster, &nc::cluster_section::name>(
        "cluster.name",
        "Name of the cluster: nodes with the same etcd and name are members of one cluster "
        "(letters, digits, '.', '_' and '-')."),
    string_key<&nc::cluster, &nc::cluster_section::bind>(
        "cluster.bind",
        "Address the listener for other nodes binds to. Nodes trust each other's messages: keep "
        "it on a private network."),
    integer_key<&nc::cluster, &nc::cluster_section::port>(
        "cluster.port",
        "TCP port of the listener for other nodes; 0 lets the operating system pick (members "
        "find each other's ports in etcd)."),
    optional_string_key<&nc::cluster, &nc::cluster_section::advertise>(
        "cluster.advertise",
        "Host or address the other nodes and clients redirected to this node reach it at; "
        "empty: cluster.bind (which must then not be a wildcard address)."),
    integer_key<&nc::cluster, &nc::cluster_section::lease_ttl_seconds>(
        "cluster.lease_ttl_seconds",
        "TTL of the node's etcd lease: a member that dies or is cut off from etcd leaves the "
        "cluster within this time, and stops acting as a member before it.",
        2, 60),
    integer_key<&nc::cluster, &nc::cluster_section::heartbeat_interval_ms>(
        "cluster.heartbeat_interval_ms",
        "Interval of the heartbeats on every link between two nodes.", 100, 60'000),
    integer_key<&nc::cluster, &nc::cluster_section::connection_timeout_ms>(
        "cluster.connection_timeout_ms",
        "A link between two nodes that carried nothing for this long is closed and the peer "
        "counts as unreachable until the link is back.",
        200, 600'000),
    integer_key<&nc::cluster, &nc::cluster_section::peer_window_messages>(
        "cluster.peer_window_messages",
        "Messages one topic shard may have on their way to one other member, unacknowledged; "
        "beyond it, QoS 0 messages for that member are dropped and QoS 1/2 refused (counted as "
        "dropped_peer_window and refused_peer_window).",
        1, 1'000'000),
    integer_key<&nc::cluster, &nc::cluster_section::peer_window_bytes>(
        "cluster.peer_window_bytes",
        "Bytes (topics and payloads) one topic shard may have on their way to one other member, "
        "unacknowledged; a message larger than this still goes when nothing else is on its way.",
        1024, 1'073'741'824),
    integer_key<&nc::cluster, &nc::cluster_section::client_slices>(
        "cluster.client_slices",
        "Slices of the client-id space: the member owning a slice keeps the session directory of "
        "its client ids, which says where each session is. Every member needs the same number.",
        1, 4096),
});

constexpr std::array<std::string_view, 16> sections = {
    "node", "log",      "mqtt",    "broker", "storage", "auth",     "tls",  "websocket",
    "jwt",  "registry", "consent", "state",  "rules",   "commands", "http", "cluster"};

constexpr std::array<std::string_view, 2> reserved_envs = {
    "CONVOY_BINARY",  // path of the convoy executable, for the integration tests
    "CONVOY_CONFIG",  // configuration file path, for scripts wrapping `convoy node`
};

// The table is grouped by section, in the order of `sections`, and every key
// names a known section.
constexpr bool table_is_grouped() {
  std::size_t s = 0;
  for (const key_info& k : keys) {
    while (s < sections.size() && k.section() != sections[s])
      ++s;
    if (s == sections.size()) return false;
  }
  return true;
}
static_assert(table_is_grouped());

}  // namespace

std::span<const key_info> config_keys() {
  return keys;
}

const key_info* find_key(std::string_view key) {
  for (const key_info& k : keys) {
    if (k.key == key) return &k;
  }
  return nullptr;
}

std::span<const std::string_view> config_sections() {
  return sections;
}

std::string_view section_description(std::string_view section) {
  if (section == "node") return "Identity and storage of this node.";
  if (section == "log") return "Logging.";
  if (section == "mqtt") return "The MQTT listener and the limits it announces to clients.";
  if (section == "broker") return "Topic shards and threads.";
  if (section == "auth") return "Who may connect: usernames and passwords, anonymous clients.";
  if (section == "jwt") return "Logins of cloud services with JSON Web Tokens.";
  if (section == "registry") {
    return "The device registry: vehicles, their devices and certificates, their status.";
  }
  if (section == "tls") {
    return "MQTT over TLS, with client certificates (mutual TLS) for vehicles.";
  }
  if (section == "consent") {
    return "Consent: which services may have a vehicle's data and run its commands, for what.";
  }
  if (section == "state") {
    return "Last known vehicle state, from telemetry.";
  }
  if (section == "rules") {
    return "Telemetry routing rules: deliver, vehicle state, archive, by topic, priority, payload.";
  }
  if (section == "commands") {
    return "Remote command workflows: timeouts, store-and-forward, consent, notifications.";
  }
  if (section == "http") {
    return "The management API, Prometheus metrics and health checks over HTTP.";
  }
  if (section == "cluster") {
    return "Membership of a cluster of nodes, coordinated through etcd.";
  }
  if (section == "websocket") {
    return "MQTT over WebSocket (ws and wss) for browsers, dashboards and companion apps.";
  }
  if (section == "storage") {
    return "Durable storage of sessions, their queues and retained messages (LMDB in "
           "node.data_dir).";
  }
  return {};
}

std::span<const std::string_view> reserved_env_names() {
  return reserved_envs;
}

std::string key_info::env_name() const {
  std::string s(env_prefix);
  for (char c : key) {
    s += c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return s;
}

std::string key_info::type_description() const {
  switch (type) {
    case value_type::boolean:
      return "boolean";
    case value_type::integer:
      return "integer " + std::to_string(min) + ".." + std::to_string(max);
    case value_type::string: {
      if (choices.empty()) return "string";
      std::string s = "one of ";
      for (std::size_t i = 0; i < choices.size(); ++i) {
        if (i > 0) s += ", ";
        s += choices[i];
      }
      return s;
    }
  }
  return {};
}

std::string key_info::check(const value& v) const {
  switch (type) {
    case value_type::boolean:
      return {};
    case value_type::integer: {
      std::int64_t i = std::get<std::int64_t>(v);
      if (i < min || i > max) {
        return "'" + std::string(key) + "' must be between " + std::to_string(min) + " and " +
               std::to_string(max) + ", got " + std::to_string(i);
      }
      return {};
    }
    case value_type::string: {
      const std::string& s = std::get<std::string>(v);
      if (!choices.empty()) {
        if (std::find(choices.begin(), choices.end(), s) != choices.end()) return {};
        std::string m = "'" + std::string(key) + "' must be one of ";
        for (std::size_t i = 0; i < choices.size(); ++i) {
          if (i > 0) m += ", ";
          m += choices[i];
        }
        return m + "; got " + format_toml_value(s);
      }
      if (s.empty() && min > 0) return "'" + std::string(key) + "' must not be empty";
      return {};
    }
  }
  return {};
}

std::string format_toml_value(const value& v) {
  if (const bool* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  if (const std::int64_t* i = std::get_if<std::int64_t>(&v)) return std::to_string(*i);
  // A TOML basic string: quote, backslash and control characters escaped,
  // everything else (UTF-8 included) as is.
  const std::string& s = std::get<std::string>(v);
  std::string out = "\"";
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04X", c);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  out += '"';
  return out;
}

}  // namespace convoy::config
