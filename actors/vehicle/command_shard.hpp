#pragma once

#include <cstdint>
#include <deque>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/event_based_actor.hpp>
#include <caf/response_promise.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/core/broker_context.hpp"
#include "actors/vehicle/command.hpp"
#include "actors/vehicle/command_workflow.hpp"

namespace convoy {

// The commands of the vehicles whose VINs hash to this shard: it starts a
// workflow actor per command, knows where each one is (for reads, long
// polls and cancellation), counts the vehicles' open connections (sessions
// report them) and hands vehicles' status reports to their workflows.
// The shards together hold one shared subscription to
// vehicles/+/command-status/+ on every topic shard; a report reaching the
// wrong shard is passed on to the VIN's.
// At start-up a shard restores the unfinished commands of its vehicles
// from storage and forgets finished ones older than the retention time.
struct command_shard_state {
  context_ptr ctx;
  std::uint32_t index = 0;
  std::uint32_t count = 1;  // shards of the node
  command_settings settings;
  std::vector<caf::actor> shards;  // all of them, this one included, by index

  struct live_command {
    caf::actor workflow;
    command_record record;  // as the workflow last told
  };
  std::unordered_map<std::string, live_command> live;  // by id
  std::unordered_map<std::string, std::vector<std::string>> live_by_vin;
  std::unordered_map<caf::actor_addr, std::string> id_of;  // workflow -> id, while live
  // Every workflow until it ends, finished ones still writing their last
  // event included: node shutdown must reach them all.
  std::unordered_map<caf::actor_addr, caf::actor> running;
  // Open connections by hash of VIN: one entry per connected vehicle, so
  // it is kept small (a 64-bit key instead of the VIN costs ~40 bytes
  // instead of ~120 per connection). Two VINs of one hash would share a
  // count; at 64 bits that is as unlikely as it is harmless (a command for
  // an offline vehicle deemed online finds no subscriber and is held).
  std::unordered_map<std::uint64_t, std::uint32_t> online;

  // subject NUL idempotency key -> the command it made.
  struct idempotent {
    std::string vin;
    std::string id;
    std::string name;
    std::string params;
    epoch_ms created_at = 0;
  };
  std::unordered_map<std::string, idempotent> idempotency;

  // Commands that ended lately, so that a read right after the end does
  // not depend on the storage write having been committed.
  std::unordered_map<std::string, command_record> recent;
  std::deque<std::string> recent_order;

  struct waiter {
    caf::response_promise promise;
    std::string id;
    std::uint32_t seen = 0;
  };
  std::unordered_map<std::uint64_t, waiter> waiters;
  std::uint64_t next_waiter = 0;

  std::mt19937_64 random{std::random_device{}()};
  static inline const char* name = "command_shard";
};

using command_shard_actor = caf::stateful_actor<command_shard_state>;

caf::behavior command_shard(command_shard_actor* self, std::uint32_t index, std::uint32_t count,
                            context_ptr ctx, command_settings settings);

}  // namespace convoy
