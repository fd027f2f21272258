#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace convoy::websocket {

// RFC 6455 frame opcodes.
enum class opcode : std::uint8_t {
  continuation = 0x0,
  text = 0x1,
  binary = 0x2,
  close = 0x8,
  ping = 0x9,
  pong = 0xA,
};

// RFC 6455 7.4.1 status codes a server sends.
enum class close_code : std::uint16_t {
  normal = 1000,
  going_away = 1001,
  protocol_error = 1002,
  unsupported_data = 1003,  // a text frame: MQTT travels in binary frames only
  policy_violation = 1008,
  message_too_big = 1009,
  internal_error = 1011,
};

// A ping, pong or close frame from the client, whole.
struct control_frame {
  opcode op;
  std::vector<std::uint8_t> payload;  // at most 125 bytes
};

// Why the client's frames cannot be read further; the connection answers
// with a close frame carrying code and closes.
struct frame_error {
  close_code code;
  std::string detail;
};

// Reads the frames a client sends (RFC 6455 5.2; client frames are masked)
// as one byte stream of the data frames' payloads: MQTT over WebSocket
// treats the payloads as a stream, and packets may be split across frames
// or several be in one (MQTT 5.0 6.0). It works in place: feed() unmasks
// the payload bytes of the buffer it is given and moves them to its front,
// so no buffer is needed beyond the read buffer and this small state, and a
// connection between frames holds only this object.
class frame_reader {
 public:
  struct result {
    std::size_t data = 0;                 // payload bytes now at the front of the buffer, in order
    std::vector<control_frame> controls;  // control frames completed, in order
    std::optional<frame_error> error;     // set: stop reading; data before it is valid
  };

  // Consumes all of buffer (or up to the error). Frames may be split at any
  // byte across calls.
  result feed(std::span<std::uint8_t> buffer);

  // Whether a close frame was read; everything after it is ignored.
  bool closed() const { return closed_; }

 private:
  bool begin_frame(result& out);

  std::array<std::uint8_t, 14> header_{};  // the header being read
  std::uint8_t header_size_ = 0;           // bytes of it read so far
  std::array<std::uint8_t, 4> mask_{};
  std::uint8_t mask_offset_ = 0;
  opcode op_ = opcode::binary;    // of the frame being read
  bool in_data_message_ = false;  // a fragmented binary message awaits continuation frames
  bool in_frame_ = false;         // between header and end of payload
  bool closed_ = false;
  std::uint64_t remaining_ = 0;                // payload bytes of the frame still to come
  std::vector<std::uint8_t> control_payload_;  // of a control frame being read
};

// The header of an unmasked (server-to-client) frame with FIN set; returns
// its size, 2 to 10 bytes.
std::size_t encode_header(opcode op, std::uint64_t payload_size, std::array<std::uint8_t, 10>& out);

// A whole server-to-client frame.
std::vector<std::uint8_t> encode_frame(opcode op, std::span<const std::uint8_t> payload);

// A close frame with status code and reason (truncated to fit 125 bytes).
std::vector<std::uint8_t> encode_close(close_code code, std::string_view reason);

// A client-to-server frame: masked with mask, FIN as given. For tests and
// fuzzing; the server never sends masked frames.
std::vector<std::uint8_t> encode_client_frame(opcode op, std::span<const std::uint8_t> payload,
                                              std::array<std::uint8_t, 4> mask, bool fin = true);

}  // namespace convoy::websocket
