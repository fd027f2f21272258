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
// In a cluster each CONNECT first claims its client id at the directory of
// the id's slice, and a session another member held moves here
// (actors/routing/session_moves.hpp).
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
  // In a cluster: this member's name (empty while alone) and the directory
  // of each client slice (actors/routing/session_directory.hpp), null while
  // none is reachable.
  std::string node;
  std::vector<caf::actor> directories;
  std::vector<caf::actor> peer_registries;  // of the other members whose link is up
  // Client ids claimed at their directory and not yet settled here, with
  // the connections for them that arrived meanwhile, taken in order.
  std::unordered_map<std::string, std::vector<connect_request>> claiming;
  static inline const char* name = "session_registry";
};

// Registry -> itself: ask the directory (previous null) or the member that
// held the session (`previous`) again, until `deadline`.
struct claim_retry {
  connect_request req;
  caf::actor previous;
  epoch_ms deadline = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, claim_retry& x) {
  return f(caf::meta::type_name("convoy.claim_retry"), x.req, x.previous, x.deadline);
}

using session_registry_actor = caf::stateful_actor<session_registry_state>;

caf::behavior session_registry(session_registry_actor* self, context_ptr ctx);

}  // namespace convoy
