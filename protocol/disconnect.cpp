#include "protocol/disconnect.hpp"

#include <string>

#include "protocol/encoder.hpp"
#include "protocol/packets.hpp"

namespace convoy::mqtt {

std::optional<byte_buffer> disconnect_bytes(protocol_version version, reason_code reason,
                                            std::string_view reason_string,
                                            std::uint32_t client_maximum_packet_size,
                                            std::string_view server_reference) {
  if (version != protocol_version::v5) return std::nullopt;
  disconnect_packet goodbye{reason, {}};
  if (!server_reference.empty())
    goodbye.props.add(property_id::server_reference, std::string{server_reference});
  if (!reason_string.empty())
    goodbye.props.add(property_id::reason_string, std::string{reason_string});
  byte_buffer out;
  // Without its reason string a DISCONNECT is at most 4 bytes (plus a
  // Server Reference), which any sensible Maximum Packet Size allows;
  // should even that not fit, the connection just closes.
  if (!encode_within(std::move(goodbye), version, client_maximum_packet_size, out))
    return std::nullopt;
  return out;
}

}  // namespace convoy::mqtt
