#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/storage/storage_result.hpp"

namespace convoy::storage {

struct stored_state_field {
  std::string name;
  std::string value;  // JSON text
  std::int64_t at_ms = 0;
  friend bool operator==(const stored_state_field&, const stored_state_field&) = default;
};

// The last known state of one vehicle: its fields and their recent history.
struct stored_vehicle_state {
  static constexpr std::uint8_t format_version = 1;

  std::string vin;
  std::int64_t updated_at_ms = 0;
  std::vector<stored_state_field> fields;
  std::vector<stored_state_field> history;
  friend bool operator==(const stored_vehicle_state&, const stored_vehicle_state&) = default;
};

std::string encode_vehicle_state(const stored_vehicle_state& s);
// Fails, never crashes, on a truncated, corrupt or out-of-range record.
storage_result<stored_vehicle_state> decode_vehicle_state(std::string_view record);

}  // namespace convoy::storage
