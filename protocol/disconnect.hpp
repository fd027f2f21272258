#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "protocol/reason_code.hpp"
#include "protocol/types.hpp"

namespace convoy::mqtt {

// What the server sends when it ends a connection for `reason`: the bytes
// of an MQTT 5 DISCONNECT, or nothing for 3.1.1, which has no DISCONNECT
// from the server and just closes. The reason string goes along when it is
// not empty and the client's Maximum Packet Size allows it (it is dropped
// otherwise, as MQTT 5 3.1.2.11.4 asks). Reason strings go even when the
// client asked for no problem information: the spec allows them on
// DISCONNECT (3.1.2.11.7). The edge (violations it finds in the bytes) and
// the session (violations it finds in the packets) both use this, so a
// reason code reads the same whoever found it. A Server Reference (0x9C Use
// another server: "host:port" of a node to go to) goes along the same way.
std::optional<byte_buffer> disconnect_bytes(protocol_version version, reason_code reason,
                                            std::string_view reason_string,
                                            std::uint32_t client_maximum_packet_size,
                                            std::string_view server_reference = {});

}  // namespace convoy::mqtt
