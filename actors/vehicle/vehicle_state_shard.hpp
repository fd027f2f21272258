#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/core/durable_store.hpp"
#include "actors/core/inflow_bound.hpp"
#include "actors/vehicle/vehicle_state.hpp"

namespace convoy {

// Vehicle state of the VINs that hash to this shard. Sessions send each
// telemetry message the routing rules give to the state (by default all of
// vehicles/{vin}/telemetry/...) to its VIN's shard, in the order they were
// published. States are read from storage on first use and
// written back at most once a second per shard (dirty ones only): after a
// crash the last second of state changes may be missing, never a
// half-written one.
struct vehicle_state_shard_state {
  store_ptr store;
  std::size_t history_size = 100;
  std::size_t max_fields = 512;
  std::size_t max_cached = 100'000;
  std::unordered_map<std::string, vehicle_state> cache;
  std::unordered_set<std::string> dirty;
  inflow_ptr inflow;  // what sessions have on its way here
  bool flush_armed = false;
  static inline const char* name = "vehicle_state_shard";
};

using vehicle_state_shard_actor = caf::stateful_actor<vehicle_state_shard_state>;

caf::behavior vehicle_state_shard(vehicle_state_shard_actor* self, std::uint32_t index,
                                  store_ptr store, std::size_t history_size, std::size_t max_cached,
                                  inflow_ptr inflow);

}  // namespace convoy
