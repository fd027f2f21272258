#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/durable_store.hpp"
#include "actors/vehicle_state.hpp"

namespace convoy {

// Vehicle state of the VINs that hash to this shard. The shards together
// hold one shared subscription to vehicles/+/telemetry/# on every topic
// shard, so each telemetry message reaches one of them, which passes it on
// to the VIN's shard. States are read from storage on first use and
// written back at most once a second per shard (dirty ones only): after a
// crash the last second of state changes may be missing, never a
// half-written one.
struct vehicle_state_shard_state {
  store_ptr store;
  std::uint32_t index = 0;
  std::vector<caf::actor> shards;  // all of them, this one included, by index
  std::size_t history_size = 100;
  std::size_t max_fields = 512;
  std::size_t max_cached = 100'000;
  std::unordered_map<std::string, vehicle_state> cache;
  std::unordered_set<std::string> dirty;
  bool flush_armed = false;
  static inline const char* name = "vehicle_state_shard";
};

using vehicle_state_shard_actor = caf::stateful_actor<vehicle_state_shard_state>;

// The shards of a node, each told all of them.
struct vehicle_state_shards {
  std::vector<caf::actor> shards;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, vehicle_state_shards& x) {
  return f(caf::meta::type_name("vehicle_state_shards"), x.shards);
}

caf::behavior vehicle_state_shard(vehicle_state_shard_actor* self, std::uint32_t index,
                                  store_ptr store, std::size_t history_size,
                                  std::size_t max_cached);

}  // namespace convoy
