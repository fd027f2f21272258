#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string_view>

#include "actors/core/latency_histogram.hpp"

namespace convoy {

// Node-wide counters. Relaxed atomics: a counter is read for reporting, never
// to make a decision, so no ordering is needed. Every refusal or drop of the
// broker increments exactly one counter named after its reason.
enum class counter : std::uint8_t {
  connections_accepted,
  connections_closed,
  connections_refused,
  packets_received,
  packets_sent,
  bytes_received,
  bytes_sent,
  messages_received_qos0,
  messages_received_qos1,
  messages_received_qos2,
  messages_delivered_qos0,
  messages_delivered_qos1,
  messages_delivered_qos2,
  dropped_queue_full,
  dropped_expired,
  dropped_too_large_for_client,
  dropped_outbound_backlog,
  dropped_no_subscribers,
  refused_malformed,
  refused_protocol_error,
  refused_packet_too_large,
  refused_receive_maximum,
  refused_topic_alias,
  refused_qos_not_supported,
  refused_retain_not_supported,
  refused_subscription_invalid,
  refused_storage_busy,        // the storage's bound of pending writes was reached
  refused_queue_full,          // QoS 1/2 message for a session whose queue is full (Quota exceeded)
  refused_not_authorized,      // CONNECT without a username while anonymous clients are not allowed
  refused_bad_credentials,     // CONNECT with an unknown username or a wrong password
  refused_connection_limit,    // mqtt.max_connections reached (Server busy)
  refused_connect_rate,        // mqtt.max_connect_rate_per_address exceeded
  refused_topic_levels,        // a topic or filter with more than mqtt.max_topic_levels levels
  refused_subscription_quota,  // a SUBSCRIBE beyond mqtt.max_subscriptions_per_client
  refused_publish_rate,        // a client above mqtt.max_publish_rate or max_publish_bytes_rate
  refused_client_id_not_allowed,        // CONNECT with a client id the login's role does not allow
  refused_session_owner,                // CONNECT for a session another identity owns
  refused_not_registered,               // a vehicle or device the registry does not let in
  disconnected_by_registry,             // a connected device suspended, replaced or revoked
  disconnected_token_expired,           // a JWT login whose token expired while connected
  disconnected_by_operator,             // kicked through the management API
  refused_publish_not_authorized,       // PUBLISH to a topic the client's role does not allow
  refused_subscribe_not_authorized,     // SUBSCRIBE to a filter the client's role does not allow
  removed_subscription_not_authorized,  // a subscription the rules no longer allow, removed
  dropped_will_not_authorized,          // a will to a topic its client may not publish to
  refused_websocket_upgrade,            // a WebSocket opening handshake that was not for MQTT at
                                        // websocket.path
  refused_websocket_frame,  // a WebSocket frame breaking RFC 6455 or MQTT's use of it (text)
  websocket_upgrades,
  refused_http_request,      // an HTTP request that could not be read (400, 413, 431)
  refused_http_busy,         // an HTTP connection beyond http.max_connections (503)
  refused_api_unauthorized,  // an API request without valid credentials (401, 403)
  dropped_state_fields,      // telemetry fields beyond the bound of fields per vehicle state
  refused_no_consent,        // a consent check that found no consent (telemetry or a command)
  dropped_archive_write,     // telemetry an archive could not write (disk full, I/O error)
  dropped_archive_full,      // telemetry for an archive whose unwritten batch is at its bound
  dropped_state_backlog,     // telemetry a state shard could not take: too much on its way to it
  dropped_rules_backlog,     // a message an archive, rule worker or webhook could not take: backlog
  dropped_webhook_full,      // webhook items dropped, oldest first, while its endpoint was down
  dropped_event_stream_slow,  // an API event stream ended: its client read too slowly
  dropped_republish,          // a republish rule's message that could not go out (topic, timeout)
  dropped_unregistered,       // high-priority telemetry of a vehicle unknown to the registry or
                              // suspended
  dropped_no_consent,         // telemetry not delivered to a service without the vehicle's consent
  consents_revoked,
  refused_tls_handshake,  // no TLS, or a client certificate missing, expired, revoked, untrusted
  disconnected_certificate_revoked,  // a connected client's certificate stopped verifying
  tls_reload_failures,               // changed TLS files that could not be loaded
  acl_reload_failures,               // a changed auth.acl_file that could not be loaded
  rules_reload_failures,             // a changed rules.file that could not be used
  rules_republished,                 // messages republished by routing rules to service topics
  webhook_items_posted,
  webhook_failures,        // webhook POSTs that failed (and are retried)
  refused_command_limit,   // a command beyond commands.max_active or max_active_per_vehicle
  dropped_command_report,  // a vehicle's status report for no command on its way, or unreadable
  commands_submitted,
  commands_succeeded,
  commands_failed,
  commands_rejected,
  commands_timed_out,
  commands_expired,
  commands_interrupted,
  commands_cancelled,
  inbound_paused,
  keep_alive_timeouts,
  connect_timeouts,
  sessions_taken_over,
  sessions_expired,
  wills_published,
  cluster_members_joined,       // members this node saw join (or join again)
  cluster_members_left,         // members this node saw leave: lease expired, revoked, or rejoined
  cluster_peer_links_lost,      // links to members that went down (peer died or timed out)
  cluster_authority_lost,       // times this node stepped down: its lease was not renewed in time
  cluster_etcd_failures,        // etcd calls that failed: unreachable, timed out, or an error reply
  dropped_peer_window,          // QoS 0 messages for a member whose link window was full
  refused_peer_window,          // QoS 1/2 messages for a member whose link window was full
  cluster_peer_route_failures,  // routes to a member or route announcements it did not answer
  cluster_routes_sent,          // messages sent to members, one per member whatever it fans out to
  cluster_routes_received,      // messages from members, fanned out to this node's sessions
  refused_retained_no_home,     // retained writes refused: the slice had no reachable home in time
  dropped_retained_no_home,     // subscriptions that got no retained messages: no reachable home
  cluster_sessions_moved_in,    // sessions taken over from another member, with their state
  cluster_sessions_moved_out,   // sessions handed to another member for a connection there
  cluster_session_move_failures,  // takeovers whose old member did not answer: started afresh
  refused_session_directory,      // CONNECTs refused: no session directory answered in time
  sessions_superseded,            // stale copies of a session another member held, ended
  refused_not_member,  // CONNECTs and QoS 1/2 PUBLISHes refused while this node was no member
  count_               // number of counters, not a counter
};

std::string_view name_of(counter c);

class metrics {
 public:
  static void add(counter c, std::uint64_t n = 1) {
    values_[static_cast<std::size_t>(c)].fetch_add(n, std::memory_order_relaxed);
  }
  static std::uint64_t get(counter c) {
    return values_[static_cast<std::size_t>(c)].load(std::memory_order_relaxed);
  }
  // Gauges: current number of things, moved up and down.
  static void connections_delta(std::int64_t d) {
    connections_.fetch_add(d, std::memory_order_relaxed);
  }
  static void sessions_delta(std::int64_t d) { sessions_.fetch_add(d, std::memory_order_relaxed); }
  static std::int64_t connections() { return connections_.load(std::memory_order_relaxed); }
  static std::int64_t sessions() { return sessions_.load(std::memory_order_relaxed); }
  // Messages waiting in the queues of sessions (offline, or window full).
  static void queued_delta(std::int64_t d) { queued_.fetch_add(d, std::memory_order_relaxed); }
  static std::int64_t queued() { return queued_.load(std::memory_order_relaxed); }
  // Payload bytes of messages received from and delivered to clients, by QoS.
  static void message_bytes_received(std::uint8_t qos, std::uint64_t n) {
    bytes_in_[qos % 3].fetch_add(n, std::memory_order_relaxed);
  }
  static void message_bytes_delivered(std::uint8_t qos, std::uint64_t n) {
    bytes_out_[qos % 3].fetch_add(n, std::memory_order_relaxed);
  }
  static std::uint64_t message_bytes_received(std::uint8_t qos) {
    return bytes_in_[qos % 3].load(std::memory_order_relaxed);
  }
  static std::uint64_t message_bytes_delivered(std::uint8_t qos) {
    return bytes_out_[qos % 3].load(std::memory_order_relaxed);
  }

  // From a PUBLISH arriving at its publisher's session to its delivery
  // being handed to a subscriber's connection.
  static inline latency_histogram publish_to_deliver;
  // Of the storage's group commits, the fsync included.
  static inline latency_histogram storage_commit;

 private:
  static inline std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(counter::count_)>
      values_{};
  static inline std::atomic<std::int64_t> connections_{0};
  static inline std::atomic<std::int64_t> sessions_{0};
  static inline std::atomic<std::int64_t> queued_{0};
  static inline std::array<std::atomic<std::uint64_t>, 3> bytes_in_{};
  static inline std::array<std::atomic<std::uint64_t>, 3> bytes_out_{};
};

}  // namespace convoy
