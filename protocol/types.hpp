#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace convoy::mqtt {

// Protocol level byte of CONNECT: 4 is MQTT 3.1.1, 5 is MQTT 5.0.
enum class protocol_version : std::uint8_t { v311 = 4, v5 = 5 };

enum class qos : std::uint8_t { at_most_once = 0, at_least_once = 1, exactly_once = 2 };

enum class packet_type : std::uint8_t {
  connect = 1,
  connack = 2,
  publish = 3,
  puback = 4,
  pubrec = 5,
  pubrel = 6,
  pubcomp = 7,
  subscribe = 8,
  suback = 9,
  unsubscribe = 10,
  unsuback = 11,
  pingreq = 12,
  pingresp = 13,
  disconnect = 14,
  auth = 15,
};

const char* to_string(packet_type t);

using byte_buffer = std::vector<std::uint8_t>;
using byte_view = std::span<const std::uint8_t>;

// Largest value a Variable Byte Integer can carry (4 bytes of 7 bits).
inline constexpr std::uint32_t max_variable_int = 268'435'455;
// Fixed header (1 byte) plus the longest remaining length field (4 bytes).
inline constexpr std::uint32_t max_fixed_header_size = 5;
inline constexpr std::uint32_t max_packet_size_limit = max_variable_int + max_fixed_header_size;

}  // namespace convoy::mqtt
