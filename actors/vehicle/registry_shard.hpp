#pragma once

#include <string>
#include <unordered_map>

#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/core/durable_store.hpp"
#include "actors/core/messages.hpp"

namespace convoy {

// One slice of the device registry (vehicles by hash of VIN): vehicles, their
// devices and certificate fingerprints, their status. Records live in storage
// and are read on first use; every change is durable before it is answered,
// and a change that can affect connected devices (suspension, replacement,
// revocation) is announced to the session registry at once.
struct registry_shard_state {
  store_ptr store;      // null: the registry lives in memory only
  caf::actor gate;      // the storage gate, to wait for this shard's writes
  caf::actor listener;  // the session registry
  // Vehicles read or written so far. Without storage this is the registry.
  std::unordered_map<std::string, vehicle_record> vehicles;
  static inline const char* name = "registry_shard";
};

using registry_shard_actor = caf::stateful_actor<registry_shard_state>;

caf::behavior registry_shard(registry_shard_actor* self, store_ptr store, caf::actor gate);

// "ab:CD:..." or "abcd..." as 64 lower-case hex digits, or empty when it is
// not a SHA-256 fingerprint.
std::string normalize_fingerprint(std::string_view text);

// A VIN the registry takes: 1 to 64 letters, digits, '-', '_' or '.'; VINs
// appear in topics and client ids, so nothing that could act as a wildcard.
bool valid_vin(std::string_view vin);

}  // namespace convoy
