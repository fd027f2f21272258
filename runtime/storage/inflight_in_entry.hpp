#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "runtime/storage/storage_result.hpp"

namespace convoy::storage {

// An incoming QoS 2 PUBLISH that was routed and PUBREC'd but not yet
// released, under inflight_in_key(client_id, packet_id). Kept across a
// restart so that a resend of the same packet id after it is answered with
// PUBREC only and not routed twice (exactly once).
struct inflight_in_entry {
  static constexpr std::uint8_t format_version = 1;

  std::int64_t received_at_ms = 0;  // Unix milliseconds
  friend bool operator==(const inflight_in_entry&, const inflight_in_entry&) = default;
};

std::string encode_inflight_in(const inflight_in_entry& entry);
storage_result<inflight_in_entry> decode_inflight_in(std::string_view record);

}  // namespace convoy::storage
