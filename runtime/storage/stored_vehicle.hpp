#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/storage/storage_result.hpp"

namespace convoy::storage {

// One device of a vehicle (a telematics unit, an infotainment head unit),
// known by the SHA-256 fingerprint of its client certificate.
struct stored_device {
  std::string device_id;
  std::string fingerprint;  // lower-case hex SHA-256 of the certificate's DER bytes
  std::uint8_t status = 0;  // device_status in actors/core/messages.hpp
  std::int64_t added_at_ms = 0;
  friend bool operator==(const stored_device&, const stored_device&) = default;
};

// A vehicle of the device registry with its devices, one record per VIN.
struct stored_vehicle {
  static constexpr std::uint8_t format_version = 1;

  std::string vin;
  std::string model;
  std::string region;
  std::uint8_t status = 0;  // vehicle_status in actors/core/messages.hpp
  std::int64_t created_at_ms = 0;
  std::int64_t updated_at_ms = 0;
  std::vector<stored_device> devices;
  friend bool operator==(const stored_vehicle&, const stored_vehicle&) = default;
};

std::string encode_vehicle(const stored_vehicle& v);
// Fails, never crashes, on a truncated, corrupt or out-of-range record.
storage_result<stored_vehicle> decode_vehicle(std::string_view record);

}  // namespace convoy::storage
