#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/core/broker_context.hpp"
#include "actors/core/messages.hpp"

namespace convoy {

// Maps client ids to their session actors on this node: creates sessions,
// hands connections to them, and replaces them on a clean start. Session
// takeover happens here, so two connections of one client id never share
// a session unknowingly.
// A session belongs to the identity that created it: only that identity may
// resume it, replace it with a clean start or take it over.
struct session_entry {
  caf::actor session;
  principal_ptr owner;         // null: an anonymous client
  bool owner_unknown = false;  // restored from a record that did not say
};

struct session_registry_state {
  context_ptr ctx;
  std::unordered_map<std::string, session_entry> sessions;
  std::unordered_map<caf::actor_addr, std::string> client_of;
  // Client ids whose old session is being discarded for a clean start, with
  // the owner of the new session and the connections for them that arrived
  // meanwhile, handed over in order once the new session exists.
  struct replacement {
    principal_ptr owner;
    std::vector<connect_request> waiting;
  };
  std::unordered_map<std::string, replacement> replacing;
  static inline const char* name = "session_registry";
};

using session_registry_actor = caf::stateful_actor<session_registry_state>;

caf::behavior session_registry(session_registry_actor* self, context_ptr ctx);

}  // namespace convoy
