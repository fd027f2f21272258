#pragma once

// The invariants the decoder fuzz target checks on every input, shared with
// the unit test that replays tests/fuzz/corpus/decoder/ in regular builds.
//
// Input layout: the first byte picks the maximum packet size (low three bits),
// the rest is a byte stream decoded packet by packet, as a connection would,
// once as MQTT 3.1.1 and once as MQTT 5.0.

#include <cstdint>
#include <string>

#include "protocol/decoder.hpp"
#include "protocol/encoder.hpp"
#include "protocol/packets.hpp"

namespace convoy::mqtt::fuzz {

inline std::uint32_t maximum_packet_size_for(std::uint8_t selector) {
  // Small limits reach the packet_too_large path from every header size.
  static constexpr std::uint32_t sizes[] = {max_packet_size_limit, 2, 5, 16, 64, 128, 1024, 65536};
  return sizes[selector & 7];
}

// Empty if every invariant held for the stream in the given version,
// otherwise what broke.
inline std::string check_stream(byte_view stream, const decode_options& options) {
  while (!stream.empty()) {
    decode_result r = decode(stream, options);
    if (r.incomplete()) {
      if (r.consumed != 0) return "incomplete result consumed bytes";
      return {};
    }
    if (r.failed()) {
      if (!is_error(r.error)) return "failure without an error reason code";
      if (r.consumed != 0) return "failed result consumed bytes";
      if (r.error == reason_code::packet_too_large) {
        frame_header header;
        if (!peek_frame(stream, header).complete() ||
            header.total_size() <= options.maximum_packet_size)
          return "packet_too_large for a packet within the limit";
      }
      return {};
    }
    if (r.error != reason_code::success) return "complete result with an error code";
    if (r.consumed == 0 || r.consumed > stream.size()) return "complete result with bad consumed";
    if (r.consumed > options.maximum_packet_size) return "packet above maximum_packet_size decoded";
    // The same packet one byte short has to wait for more input.
    decode_result short_one = decode(stream.first(r.consumed - 1), options);
    if (!short_one.incomplete()) return "packet minus its last byte is not incomplete";
    // And what follows it makes no difference.
    decode_result alone = decode(stream.first(r.consumed), options);
    if (!alone.complete() || alone.consumed != r.consumed || !(alone.value == r.value))
      return "packet decodes differently without the bytes after it";

    // Whatever decodes re-encodes to bytes that decode to the same packet.
    // Decoding normalises (a Success reason code may be left out), so the
    // re-encoding can be shorter than the input but never longer.
    byte_buffer encoded = encode(r.value, options.version);
    if (encoded.size() > r.consumed) return "re-encoding is longer than the input";
    decode_result again = decode(encoded, options);
    if (!again.complete())
      return "re-encoded packet does not decode: " + std::string{to_string(again.error)} + ": " +
             again.detail;
    if (again.consumed != encoded.size()) return "re-encoded packet decodes to another length";
    if (!(again.value == r.value)) return "decode(encode(p)) != p";
    if (encode(again.value, options.version) != encoded) return "encoding is not stable";
    if (const auto* p = std::get_if<publish_packet>(&r.value)) {
      byte_buffer gathered;
      encode_publish_header(*p, p->payload.size(), options.version, gathered);
      gathered.insert(gathered.end(), p->payload.begin(), p->payload.end());
      if (gathered != encoded) return "encode_publish_header + payload != encode(publish)";
    }
    stream = stream.subspan(r.consumed);
  }
  return {};
}

inline std::string check_decoder(byte_view input) {
  if (input.empty()) return {};
  decode_options options;
  options.maximum_packet_size = maximum_packet_size_for(input[0]);
  for (auto version : {protocol_version::v311, protocol_version::v5}) {
    options.version = version;
    std::string failure = check_stream(input.subspan(1), options);
    if (!failure.empty())
      return (version == protocol_version::v5 ? "MQTT 5: " : "MQTT 3.1.1: ") + failure;
  }
  return {};
}

}  // namespace convoy::mqtt::fuzz
