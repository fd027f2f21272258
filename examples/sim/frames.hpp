#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>

#include "protocol/types.hpp"

namespace convoy::sim {

// The first 16 payload bytes of every simulated message: send time on the
// steady clock (publishers and subscribers share the process, so the clock is
// common), the publishing vehicle and its per-vehicle sequence number. Host
// byte order: the bytes never leave this process's pair of ends.
struct stamp {
  std::int64_t sent_ns = 0;
  std::uint32_t vehicle = 0;
  std::uint32_t seq = 0;
};

inline constexpr std::size_t stamp_size = 16;

inline void write_stamp(const stamp& s, std::uint8_t* out) {
  std::memcpy(out, &s.sent_ns, 8);
  std::memcpy(out + 8, &s.vehicle, 4);
  std::memcpy(out + 12, &s.seq, 4);
}

inline stamp read_stamp(const std::uint8_t* in) {
  stamp s;
  std::memcpy(&s.sent_ns, in, 8);
  std::memcpy(&s.vehicle, in + 8, 4);
  std::memcpy(&s.seq, in + 12, 4);
  return s;
}

// What a subscriber needs of a PUBLISH, read in place without copying topic
// or payload: the one packet a subscriber receives at full rate. Every other
// packet goes through mqtt::decode.
struct publish_view {
  std::uint8_t qos = 0;
  std::uint16_t packet_id = 0;
  mqtt::byte_view payload;
};

// frame: one whole PUBLISH packet, header_size: its fixed header's length
// (from mqtt::peek_frame). Nullopt when the packet is malformed.
std::optional<publish_view> parse_publish(mqtt::byte_view frame, std::size_t header_size,
                                          mqtt::protocol_version version);

// PUBACK, PUBREC, PUBREL and PUBCOMP (success, no properties) and PINGREQ,
// encoded once by the codec; acknowledgements get their packet id patched in.
struct control_frames {
  explicit control_frames(mqtt::protocol_version version);

  using ack = std::array<std::uint8_t, 4>;
  ack puback, pubrec, pubrel, pubcomp;
  std::array<std::uint8_t, 2> pingreq;
  mqtt::byte_buffer disconnect;

  static ack with_id(ack frame, std::uint16_t id) {
    frame[2] = static_cast<std::uint8_t>(id >> 8);
    frame[3] = static_cast<std::uint8_t>(id & 0xFF);
    return frame;
  }
};

}  // namespace convoy::sim
