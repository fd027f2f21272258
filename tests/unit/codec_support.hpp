#pragma once

// Shared helpers of the codec tests: byte-exact round trips, error checks and
// readable failure output for bytes, reason codes and packets.

#include <doctest/doctest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "protocol/decoder.hpp"
#include "protocol/encoder.hpp"
#include "protocol/packets.hpp"
#include "protocol/reason_code.hpp"
#include "protocol/wire.hpp"

namespace convoy::mqtt::test {

inline std::string hex(byte_view bytes) {
  std::string s;
  char buf[4];
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i == 64 && bytes.size() > 80) {
      s += "... (" + std::to_string(bytes.size()) + " bytes)";
      break;
    }
    std::snprintf(buf, sizeof buf, "%02x ", bytes[i]);
    s += buf;
  }
  return s;
}

// doctest prints a const char* as a pointer; the name of a code as a string.
inline std::string name(reason_code rc) {
  return to_string(rc);
}

inline byte_buffer concat(std::initializer_list<byte_view> parts) {
  byte_buffer out;
  for (auto p : parts)
    out.insert(out.end(), p.begin(), p.end());
  return out;
}

inline byte_buffer bytes_of(std::string_view s) {
  return byte_buffer(s.begin(), s.end());
}

inline decode_options options(protocol_version v,
                              std::uint32_t maximum_packet_size = max_packet_size_limit) {
  decode_options o;
  o.version = v;
  o.maximum_packet_size = maximum_packet_size;
  return o;
}

// The three properties every byte-exact case must have: encode(p) == wire,
// decode(wire) == p consuming all of it, and decode then re-encode == wire.
inline void check_codec(const packet& p, protocol_version v, const byte_buffer& wire) {
  byte_buffer encoded = encode(p, v);
  CHECK_MESSAGE(encoded == wire, "encoded:  " << hex(encoded) << "\nexpected: " << hex(wire));
  decode_result r = decode(wire, options(v));
  REQUIRE_MESSAGE(r.complete(), "decode failed: " << name(r.error) << ": " << r.detail);
  CHECK(r.consumed == wire.size());
  CHECK(r.value.index() == p.index());
  CHECK(r.value == p);
  byte_buffer again = encode(r.value, v);
  CHECK_MESSAGE(again == wire, "re-encoded: " << hex(again) << "\nexpected:   " << hex(wire));
}

// Bytes that decode to p but are not the canonical encoding (an explicit
// success reason code, an empty property block): decode gives p, and
// re-encoding gives the canonical bytes.
inline void check_decodes_to(const byte_buffer& wire, protocol_version v, const packet& p,
                             const byte_buffer& canonical) {
  decode_result r = decode(wire, options(v));
  REQUIRE_MESSAGE(r.complete(), "decode failed: " << name(r.error) << ": " << r.detail);
  CHECK(r.consumed == wire.size());
  CHECK(r.value == p);
  byte_buffer again = encode(r.value, v);
  CHECK_MESSAGE(again == canonical,
                "re-encoded: " << hex(again) << "\nexpected:   " << hex(canonical));
}

inline decode_result check_error(const byte_buffer& wire, protocol_version v, reason_code expected,
                                 std::uint32_t maximum_packet_size = max_packet_size_limit) {
  decode_result r = decode(wire, options(v, maximum_packet_size));
  CHECK_MESSAGE(r.failed(), "input: " << hex(wire));
  CHECK_MESSAGE(r.error == expected,
                "got " << name(r.error) << " (" << r.detail << "), input: " << hex(wire));
  CHECK(r.consumed == 0);
  return r;
}

}  // namespace convoy::mqtt::test

namespace doctest {

template <>
struct StringMaker<convoy::mqtt::reason_code> {
  static String convert(convoy::mqtt::reason_code rc) { return convoy::mqtt::to_string(rc); }
};

template <>
struct StringMaker<convoy::mqtt::byte_buffer> {
  static String convert(const convoy::mqtt::byte_buffer& b) {
    return convoy::mqtt::test::hex(b).c_str();
  }
};

}  // namespace doctest
