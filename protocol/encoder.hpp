#pragma once

#include "protocol/packets.hpp"
#include "protocol/types.hpp"

namespace convoy::mqtt {

// Appends the wire form of p in the given protocol version to out. Fields the
// version cannot carry (3.1.1 has no properties or reason codes beyond the
// CONNACK return code and SUBACK failure) are left out. A CONNECT is written in
// its own version (connect_packet::version), as the decoder reads it.
void encode(const packet& p, protocol_version version, byte_buffer& out);

byte_buffer encode(const packet& p, protocol_version version);

// Encodes a packet for a receiver whose Maximum Packet Size is max_size.
// Reason String and then User Properties are left out when the packet would
// not fit otherwise, as the spec asks (3.1.2.11.4, 3.2.2.3.9, 3.14.2.2.3).
// False, with nothing appended, when it still does not fit.
bool encode_within(packet p, protocol_version version, std::uint32_t max_size, byte_buffer& out);

// Appends everything of a PUBLISH except the payload bytes, so one payload
// buffer can be shared by many deliveries and written with gather I/O.
void encode_publish_header(const publish_packet& p, std::size_t payload_size,
                           protocol_version version, byte_buffer& out);

// Size of the property block (length prefix included) of props in MQTT 5.
std::size_t encoded_properties_size(const properties& props);

// A property block (length prefix included) as MQTT 5 puts it in a packet,
// appended to out. For keeping properties outside a packet, e.g. in storage;
// decode_property_block reads it back.
void encode_property_block(const properties& props, byte_buffer& out);

}  // namespace convoy::mqtt
