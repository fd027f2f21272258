#include "protocol/websocket_frame.hpp"

#include <algorithm>

namespace convoy::websocket {

namespace {

bool is_control(opcode op) {
  return static_cast<std::uint8_t>(op) >= 0x8;
}

bool is_known(std::uint8_t op) {
  return op <= 0x2 || (op >= 0x8 && op <= 0xA);
}

// Header size once its first two bytes are known.
std::size_t header_size_of(const std::array<std::uint8_t, 14>& h) {
  std::size_t size = 2;
  std::uint8_t length = h[1] & 0x7F;
  if (length == 126) size += 2;
  if (length == 127) size += 8;
  if (h[1] & 0x80) size += 4;
  return size;
}

}  // namespace

bool frame_reader::begin_frame(result& out) {
  auto fail = [&](close_code code, std::string detail) {
    out.error = frame_error{code, std::move(detail)};
    return false;
  };
  const auto& h = header_;
  bool fin = h[0] & 0x80;
  if (h[0] & 0x70) return fail(close_code::protocol_error, "reserved bits set (no extension)");
  std::uint8_t raw_op = h[0] & 0x0F;
  if (!is_known(raw_op)) return fail(close_code::protocol_error, "unknown opcode");
  auto op = static_cast<opcode>(raw_op);
  if (!(h[1] & 0x80)) return fail(close_code::protocol_error, "client frames must be masked");
  std::uint64_t length = h[1] & 0x7F;
  std::size_t at = 2;
  if (length == 126) {
    length = (std::uint64_t{h[2]} << 8) | h[3];
    at = 4;
  } else if (length == 127) {
    length = 0;
    for (int i = 0; i < 8; ++i)
      length = (length << 8) | h[2 + i];
    at = 10;
    if (length >> 63) return fail(close_code::protocol_error, "payload length out of range");
  }
  std::copy_n(h.begin() + static_cast<std::ptrdiff_t>(at), 4, mask_.begin());
  if (is_control(op)) {
    if (!fin) return fail(close_code::protocol_error, "fragmented control frame");
    if (length > 125) return fail(close_code::protocol_error, "control frame over 125 bytes");
    control_payload_.clear();
    control_payload_.reserve(length);
  } else if (op == opcode::text) {
    return fail(close_code::unsupported_data, "MQTT travels in binary frames, not text");
  } else if (op == opcode::binary) {
    if (in_data_message_)
      return fail(close_code::protocol_error, "new message inside a fragmented one");
    in_data_message_ = !fin;
  } else {  // continuation
    if (!in_data_message_)
      return fail(close_code::protocol_error, "continuation without a message");
    in_data_message_ = !fin;
  }
  op_ = op;
  remaining_ = length;
  mask_offset_ = 0;
  in_frame_ = true;
  return true;
}

frame_reader::result frame_reader::feed(std::span<std::uint8_t> buffer) {
  result out;
  std::size_t read = 0;
  std::size_t& written = out.data;  // written <= read: payload moves towards the front
  while (read < buffer.size() && !closed_ && !out.error) {
    if (!in_frame_) {
      std::size_t need = header_size_ < 2 ? 2 : header_size_of(header_);
      while (header_size_ < need && read < buffer.size()) {
        header_[header_size_++] = buffer[read++];
        if (header_size_ == 2) need = header_size_of(header_);
      }
      if (header_size_ < need) break;
      header_size_ = 0;
      if (!begin_frame(out)) break;
    }
    auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, buffer.size() - read));
    if (is_control(op_)) {
      for (std::size_t i = 0; i < n; ++i)
        control_payload_.push_back(buffer[read + i] ^ mask_[(mask_offset_ + i) % 4]);
    } else {
      for (std::size_t i = 0; i < n; ++i)
        buffer[written + i] = buffer[read + i] ^ mask_[(mask_offset_ + i) % 4];
      written += n;
    }
    mask_offset_ = static_cast<std::uint8_t>((mask_offset_ + n) % 4);
    read += n;
    remaining_ -= n;
    if (remaining_ > 0) break;
    in_frame_ = false;
    if (!is_control(op_)) continue;
    if (op_ == opcode::close) {
      if (control_payload_.size() == 1) {
        out.error = frame_error{close_code::protocol_error, "close frame with a 1-byte payload"};
        break;
      }
      closed_ = true;
    }
    out.controls.push_back({op_, std::move(control_payload_)});
    control_payload_ = {};
  }
  return out;
}

std::size_t encode_header(opcode op, std::uint64_t payload_size,
                          std::array<std::uint8_t, 10>& out) {
  out[0] = static_cast<std::uint8_t>(0x80 | static_cast<std::uint8_t>(op));
  if (payload_size < 126) {
    out[1] = static_cast<std::uint8_t>(payload_size);
    return 2;
  }
  if (payload_size <= 0xFFFF) {
    out[1] = 126;
    out[2] = static_cast<std::uint8_t>(payload_size >> 8);
    out[3] = static_cast<std::uint8_t>(payload_size);
    return 4;
  }
  out[1] = 127;
  for (int i = 0; i < 8; ++i)
    out[2 + i] = static_cast<std::uint8_t>(payload_size >> (56 - 8 * i));
  return 10;
}

std::vector<std::uint8_t> encode_frame(opcode op, std::span<const std::uint8_t> payload) {
  std::array<std::uint8_t, 10> header;
  std::size_t size = encode_header(op, payload.size(), header);
  std::vector<std::uint8_t> out(header.begin(), header.begin() + static_cast<std::ptrdiff_t>(size));
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

std::vector<std::uint8_t> encode_close(close_code code, std::string_view reason) {
  std::vector<std::uint8_t> payload;
  auto value = static_cast<std::uint16_t>(code);
  payload.push_back(static_cast<std::uint8_t>(value >> 8));
  payload.push_back(static_cast<std::uint8_t>(value));
  // Cut at a character boundary: the reason must stay valid UTF-8.
  std::size_t size = std::min<std::size_t>(reason.size(), 123);
  while (size < reason.size() && size > 0 &&
         (static_cast<unsigned char>(reason[size]) & 0xC0) == 0x80)
    --size;
  payload.insert(payload.end(), reason.begin(), reason.begin() + static_cast<std::ptrdiff_t>(size));
  return encode_frame(opcode::close, payload);
}

std::vector<std::uint8_t> encode_client_frame(opcode op, std::span<const std::uint8_t> payload,
                                              std::array<std::uint8_t, 4> mask, bool fin) {
  std::array<std::uint8_t, 10> header;
  std::size_t size = encode_header(op, payload.size(), header);
  if (!fin) header[0] &= 0x7F;
  header[1] |= 0x80;
  std::vector<std::uint8_t> out(header.begin(), header.begin() + static_cast<std::ptrdiff_t>(size));
  out.insert(out.end(), mask.begin(), mask.end());
  for (std::size_t i = 0; i < payload.size(); ++i)
    out.push_back(payload[i] ^ mask[i % 4]);
  return out;
}

}  // namespace convoy::websocket
