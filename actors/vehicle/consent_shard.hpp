#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/stateful_actor.hpp>

#include "actors/core/durable_store.hpp"
#include "actors/vehicle/consent.hpp"
#include "actors/vehicle/consent_catalog.hpp"

namespace convoy {

// The consents of the vehicles whose VINs hash to this shard: grants,
// revocations, listings and checks. A vehicle's consents are read from
// storage on first use and kept; a revocation takes effect in the next
// message this shard handles, since every check of that vehicle comes here.
// Consents past their expiry count as absent at once and are deleted when
// found. The cache is bounded: beyond max_cached vehicles, and for vehicles
// unused for ten minutes, entries are dropped (and read again when needed).
struct consent_shard_state {
  store_ptr store;  // null: consents live in memory only
  caf::actor gate;  // the storage gate, to wait for this shard's writes
  catalog_ptr catalog;
  std::size_t max_cached = 100'000;
  struct vehicle_consents {
    std::vector<consent_record> records;
    std::int64_t used_ms = 0;  // steady clock
  };
  std::unordered_map<std::string, vehicle_consents> cache;
  static inline const char* name = "consent_shard";
};

using consent_shard_actor = caf::stateful_actor<consent_shard_state>;

caf::behavior consent_shard(consent_shard_actor* self, store_ptr store, caf::actor gate,
                            catalog_ptr catalog);

}  // namespace convoy
