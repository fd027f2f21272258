#include "examples/sim/frames.hpp"

#include <stdexcept>

#include "protocol/encoder.hpp"

namespace convoy::sim {

std::optional<publish_view> parse_publish(mqtt::byte_view frame, std::size_t header_size,
                                          mqtt::protocol_version version) {
  publish_view v;
  if (frame.empty()) return std::nullopt;
  v.qos = static_cast<std::uint8_t>((frame[0] >> 1) & 0x03);
  if (v.qos == 3) return std::nullopt;
  std::size_t pos = header_size;
  auto need = [&](std::size_t n) { return frame.size() >= pos && frame.size() - pos >= n; };
  if (!need(2)) return std::nullopt;
  std::size_t topic_length = (std::size_t{frame[pos]} << 8) | frame[pos + 1];
  pos += 2;
  if (!need(topic_length)) return std::nullopt;
  pos += topic_length;
  if (v.qos != 0) {
    if (!need(2)) return std::nullopt;
    v.packet_id = static_cast<std::uint16_t>((frame[pos] << 8) | frame[pos + 1]);
    pos += 2;
  }
  if (version == mqtt::protocol_version::v5) {
    std::uint32_t length = 0;
    for (unsigned shift = 0;; shift += 7) {
      if (shift > 21 || !need(1)) return std::nullopt;
      std::uint8_t b = frame[pos++];
      length |= std::uint32_t{b & 0x7Fu} << shift;
      if ((b & 0x80) == 0) break;
    }
    if (!need(length)) return std::nullopt;
    pos += length;
  }
  v.payload = frame.subspan(pos);
  return v;
}

namespace {

control_frames::ack ack_frame(mqtt::packet_type type, mqtt::protocol_version version) {
  auto bytes =
      mqtt::encode(mqtt::pub_ack_packet{type, 0x1234, mqtt::reason_code::success, {}}, version);
  if (bytes.size() != 4 || bytes[2] != 0x12 || bytes[3] != 0x34)
    throw std::logic_error("unexpected acknowledgement encoding");
  return {bytes[0], bytes[1], bytes[2], bytes[3]};
}

}  // namespace

control_frames::control_frames(mqtt::protocol_version version)
    : puback(ack_frame(mqtt::packet_type::puback, version)),
      pubrec(ack_frame(mqtt::packet_type::pubrec, version)),
      pubrel(ack_frame(mqtt::packet_type::pubrel, version)),
      pubcomp(ack_frame(mqtt::packet_type::pubcomp, version)),
      disconnect(mqtt::encode(mqtt::disconnect_packet{}, version)) {
  auto ping = mqtt::encode(mqtt::pingreq_packet{}, version);
  if (ping.size() != 2) throw std::logic_error("unexpected PINGREQ encoding");
  pingreq = {ping[0], ping[1]};
}

}  // namespace convoy::sim
