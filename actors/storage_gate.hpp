#pragma once

#include <cstdint>
#include <unordered_map>

#include <caf/event_based_actor.hpp>
#include <caf/response_promise.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/durable_store.hpp"

namespace convoy {

// Lets an actor wait, the actor way, until what it stored so far is
// durable: it sends a request with sync_atom and the answer (true, or false
// when storage failed) comes once every write submitted before the request
// is committed. Group commit completes writes in submission order, so one
// barrier after them is enough. One gate per node.
using sync_atom = caf::atom_constant<caf::atom("sync")>;

struct storage_gate_state {
  store_ptr store;
  std::unordered_map<std::uint64_t, caf::response_promise> waiting;
  std::uint64_t next_token = 0;
  static inline const char* name = "storage_gate";
};

caf::behavior storage_gate(caf::stateful_actor<storage_gate_state>* self, store_ptr store);

}  // namespace convoy
