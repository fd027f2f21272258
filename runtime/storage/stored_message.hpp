#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/types.hpp"
#include "runtime/storage/storage_result.hpp"

namespace convoy::storage {

// A published message as stored once, in `messages` under its id for the
// queues that refer to it, or in `retained` under its topic.
struct stored_message {
  static constexpr std::uint8_t format_version = 1;

  std::string topic;
  std::string payload;
  mqtt::qos qos = mqtt::qos::at_most_once;
  bool retain = false;
  // The forwarded MQTT 5 properties as encoded on the wire (payload format,
  // content type, response topic, correlation data, user properties).
  std::string properties;
  std::int64_t expires_at_ms = 0;   // Unix milliseconds; 0: never expires
  std::int64_t received_at_ms = 0;  // Unix milliseconds
  friend bool operator==(const stored_message&, const stored_message&) = default;
};

std::string encode_message(const stored_message& message);
storage_result<stored_message> decode_message(std::string_view record);

}  // namespace convoy::storage
