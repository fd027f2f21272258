#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "runtime/storage/storage_result.hpp"

namespace convoy::storage {

// One consent a vehicle's owner gave: `subject` (an app or partner service)
// may have the vehicle's data and run its commands for `purpose`, from
// granted_at until expires_at (0: until revoked). Keyed by
// consent_key(vin, subject, purpose), so a vehicle's consents are adjacent.
struct stored_consent {
  static constexpr std::uint8_t format_version = 1;

  std::string vin;
  std::string subject;
  std::string purpose;
  std::int64_t granted_at_ms = 0;
  std::int64_t expires_at_ms = 0;
  std::string granted_by;  // who recorded it (an API key's or token's name)
  friend bool operator==(const stored_consent&, const stored_consent&) = default;
};

std::string encode_consent(const stored_consent& c);
// Fails, never crashes, on a truncated, corrupt or out-of-range record.
storage_result<stored_consent> decode_consent(std::string_view record);

// vin NUL subject NUL purpose; the names hold no NUL (checked where they
// come in), so the prefix vin NUL selects exactly one vehicle's consents.
std::string consent_key(std::string_view vin, std::string_view subject, std::string_view purpose);
std::string consent_prefix(std::string_view vin);

}  // namespace convoy::storage
