#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/packets.hpp"
#include "protocol/types.hpp"
#include "runtime/storage/storage_result.hpp"

namespace convoy::storage {

struct stored_subscription {
  std::string filter;  // as subscribed, $share/{group}/ included
  mqtt::subscription_options options;
  std::optional<std::uint32_t> subscription_id;  // 1..268435455
  friend bool operator==(const stored_subscription&, const stored_subscription&) = default;
};

struct stored_will {
  std::string topic;
  std::string payload;
  mqtt::qos qos = mqtt::qos::at_most_once;
  bool retain = false;
  std::uint32_t delay_interval = 0;  // seconds
  // The will's MQTT 5 properties as encoded on the wire, so that whatever
  // the client sent is published unchanged without the storage layer
  // knowing property types.
  std::string properties;
  friend bool operator==(const stored_will&, const stored_will&) = default;
};

// A persistent session as it survives a restart: what a resuming client
// finds again. Its queue and incoming QoS 2 state are separate records, so
// that acknowledging one message does not rewrite the whole session.
struct stored_session {
  // Version 2 added the incarnation, version 3 the owner; versions 1 and 2
  // are still read.
  static constexpr std::uint8_t format_version = 3;
  static constexpr std::uint8_t oldest_format_version = 1;

  std::string client_id;
  mqtt::protocol_version version = mqtt::protocol_version::v5;
  std::uint32_t session_expiry_interval = 0;  // seconds
  std::int64_t disconnected_at_ms = 0;        // Unix milliseconds; 0 while connected
  std::vector<stored_subscription> subscriptions;
  std::optional<stored_will> will;
  // Which session of this client id the record belongs to: queue entries of
  // an earlier session with the same id are not this one's. 0: unknown (a
  // version 1 record), every entry is taken.
  std::uint32_t incarnation = 0;
  // Who may resume the session: the identity that created it and how it
  // logged in (auth_method). Nullopt: an anonymous client.
  struct owner_identity {
    std::string identity;
    std::uint8_t method = 0;
    friend bool operator==(const owner_identity&, const owner_identity&) = default;
  };
  std::optional<owner_identity> owner;
  // False for records of versions 1 and 2, which did not say: the first
  // client to resume the session becomes its owner.
  bool owner_known = true;
  friend bool operator==(const stored_session&, const stored_session&) = default;
};

std::string encode_session(const stored_session& session);
// Fails, never crashes, on a record that is truncated, corrupt, of another
// format version or holds out-of-range values (QoS 3, protocol version 6).
storage_result<stored_session> decode_session(std::string_view record);

}  // namespace convoy::storage
