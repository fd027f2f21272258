#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace convoy::websocket {

// What a server accepts of a client's opening handshake (RFC 6455 4.2).
struct upgrade_rules {
  std::string path = "/mqtt";
  // Origins a browser may connect from, exactly as sent ("https://app.example.com");
  // empty: any. Clients that send no Origin (not browsers) are not affected.
  std::vector<std::string> allowed_origins;
};

// Requests larger than this are refused (431): the request is buffered
// until complete, and nothing a real client sends comes close.
inline constexpr std::size_t max_upgrade_request_size = 8192;

struct upgrade_outcome {
  enum class verdict : std::uint8_t { incomplete, accepted, refused };
  verdict result = verdict::incomplete;
  std::size_t consumed = 0;  // bytes of the request; what follows is frames
  unsigned status = 0;       // 101 when accepted, an HTTP error status when refused
  std::string response;      // the whole HTTP response to send
  std::string reason;        // why it was refused, for the log
  std::string subprotocol;   // "mqtt" (or "mqttv3.1" for old clients); empty if none was asked
};

// Reads an opening handshake from the start of input (HTTP/1.1 GET with
// Upgrade: websocket) and decides on it: 101 with Sec-WebSocket-Accept and
// the MQTT subprotocol, or a refusal with a status and a message saying
// what is wrong. Incomplete while the request's header is not all there.
upgrade_outcome read_upgrade(std::span<const std::uint8_t> input, const upgrade_rules& rules);

// Sec-WebSocket-Accept for a client's Sec-WebSocket-Key (RFC 6455 4.2.2).
std::string accept_key(std::string_view client_key);

}  // namespace convoy::websocket
