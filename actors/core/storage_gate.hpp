#pragma once

#include <cstdint>
#include <unordered_map>

#include <caf/event_based_actor.hpp>
#include <caf/response_promise.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/core/durable_store.hpp"

namespace convoy {

// Lets an actor wait, the actor way, for the outcome of its own write: it
// takes a ticket, submits the write with gate_completion(gate, ticket) as
// its completion, and sends the gate a request (await_atom, ticket); the
// answer is true once the write is durable, false if it failed. The
// storage's completion and the request may reach the gate in either order.
// One gate per node.
using await_atom = caf::atom_constant<caf::atom("await")>;
using outcome_atom = caf::atom_constant<caf::atom("outcome")>;

// A ticket no other write of this node has.
std::uint64_t next_write_ticket();

// The completion that reports a write's outcome to the gate under ticket.
durable_store::completion gate_completion(const caf::actor& gate, std::uint64_t ticket);

struct storage_gate_state {
  // Requests waiting for an outcome, and outcomes that arrived before
  // their request (at most the writes between a submit and its request).
  std::unordered_map<std::uint64_t, caf::response_promise> waiting;
  std::unordered_map<std::uint64_t, bool> arrived;
  static inline const char* name = "storage_gate";
};

// The gate writes nothing itself; the store it guards is its spawn argument
// because CAF 0.17 spawns an argument-less function actor through a null
// shared_ptr (see topic_shard.hpp).
caf::behavior storage_gate(caf::stateful_actor<storage_gate_state>* self, store_ptr guarded);

}  // namespace convoy
