#pragma once

#include <cstdint>
#include <string>

#include "protocol/packets.hpp"
#include "protocol/types.hpp"

namespace convoy::mqtt {

enum class decode_status { complete, incomplete, error };

struct decode_options {
  // Version of the connection; CONNECT carries its own and ignores this.
  protocol_version version = protocol_version::v5;
  // Largest whole packet (fixed header included) accepted; larger ones are
  // refused from their fixed header, before their body arrives.
  std::uint32_t maximum_packet_size = max_packet_size_limit;
};

// Reads a property block written by encode_property_block, checking each
// property as the decoder does in a packet of kind ctx. Nullopt when the
// bytes are not exactly one valid block.
std::optional<properties> decode_property_block(byte_view input, property_context ctx);

struct decode_result {
  decode_status status = decode_status::incomplete;
  // Bytes of input the complete packet occupied; 0 unless complete.
  std::size_t consumed = 0;
  packet value;
  // Why the input was refused: Malformed Packet, Protocol Error, Packet too
  // large, Unsupported Protocol Version, Topic Name invalid, ...
  reason_code error = reason_code::success;
  std::string detail;
  // Set once a CONNECT's protocol level was read, so an error can be answered
  // with a CONNACK in the version the client speaks. An unsupported level (or
  // MQTT 3.1's "MQIsdp") gives v311: that CONNACK with return code 1 is the
  // answer 3.1.1 requires and older clients understand.
  std::optional<protocol_version> connect_version;

  bool complete() const { return status == decode_status::complete; }
  bool incomplete() const { return status == decode_status::incomplete; }
  bool failed() const { return status == decode_status::error; }
};

struct frame_header {
  std::uint8_t first_byte = 0;
  std::uint32_t remaining_length = 0;
  std::size_t header_size = 0;
  std::size_t total_size() const { return header_size + remaining_length; }
};

// Reads the fixed header at the start of input. Incomplete while the
// remaining-length field is still arriving; an error if it is longer than
// four bytes. Never reads beyond input.
decode_result peek_frame(byte_view input, frame_header& header);

// Decodes the first packet in input. Bytes split anywhere give incomplete
// until the whole packet is present; nothing from the network throws.
decode_result decode(byte_view input, const decode_options& options);

}  // namespace convoy::mqtt
