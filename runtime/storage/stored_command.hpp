#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/storage/storage_result.hpp"

namespace convoy::storage {

struct stored_command_event {
  std::int64_t at_ms = 0;
  std::uint8_t status = 0;
  std::string detail;
  friend bool operator==(const stored_command_event&, const stored_command_event&) = default;
};

// One remote command and its audit timeline, rewritten at every event.
// Keyed by command_key(vin, id), so a vehicle's commands are adjacent and,
// ids sorting by creation time, in the order they were made.
struct stored_command {
  static constexpr std::uint8_t format_version = 1;

  std::string id;
  std::string vin;
  std::string name;
  std::string params;  // JSON text
  std::string requested_by;
  std::string idempotency_key;
  std::int64_t created_at_ms = 0;
  std::uint32_t timeout_ms = 0;
  std::uint32_t ttl_ms = 0;
  std::int64_t sent_at_ms = 0;
  std::uint8_t status = 0;  // convoy::command_status
  std::string result;       // JSON text
  std::vector<stored_command_event> timeline;
  friend bool operator==(const stored_command&, const stored_command&) = default;
};

std::string encode_command(const stored_command& c);
// Fails, never crashes, on a truncated, corrupt or out-of-range record.
storage_result<stored_command> decode_command(std::string_view record);

// vin NUL id: neither holds a NUL (VINs are checked where they come in, ids
// are made here).
std::string command_key(std::string_view vin, std::string_view id);
std::string command_prefix(std::string_view vin);

}  // namespace convoy::storage
