#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/broker_context.hpp"
#include "actors/messages.hpp"

namespace convoy {

// Maps client ids to their session actors on this node: creates sessions,
// hands connections to them, and replaces them on a clean start. Session
// takeover happens here, so two connections of one client id never share
// a session unknowingly.
struct session_registry_state {
  context_ptr ctx;
  std::unordered_map<std::string, caf::actor> sessions;
  std::unordered_map<caf::actor_addr, std::string> client_of;
  // Client ids whose old session is being discarded for a clean start, with
  // the connections for them that arrived meanwhile, handed over in order
  // once the new session exists.
  std::unordered_map<std::string, std::vector<connect_request>> replacing;
  static inline const char* name = "session_registry";
};

using session_registry_actor = caf::stateful_actor<session_registry_state>;

caf::behavior session_registry(session_registry_actor* self, context_ptr ctx);

}  // namespace convoy
