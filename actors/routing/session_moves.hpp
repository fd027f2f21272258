#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/meta/type_name.hpp>

#include "actors/core/inspection.hpp"
#include "actors/core/messages.hpp"

namespace convoy {

// The messages that move a session between the members of a cluster (see
// docs/CLUSTER.md, "Sessions across members"). Each client id's slice has a
// directory on the member holding the slice's claim: it knows which
// member's session registry holds the client id's session, and the
// identity that owns it. A CONNECT on any member claims the client id there
// first; when another member held it, the new member's registry asks the
// old one for the session, which closes its connection (0x8E) and moves
// here with its subscriptions, in-flight window and queue.

// Registry -> the client slice's directory, a request answered with
// session_claim_reply: `registry` (of `node`) is about to hold the session
// of `client_id` for a connection of `owner`.
struct session_claim {
  std::string client_id;
  std::string node;
  caf::actor registry;
  principal_ptr owner;
};

enum class claim_outcome : std::uint8_t {
  granted = 0,   // the claimant holds the client id now; `previous` had it
  foreign = 1,   // the session belongs to another identity: the CONNECT is refused
  not_home = 2,  // this directory does not serve the slice (yet): ask again
};

struct session_claim_reply {
  claim_outcome outcome = claim_outcome::granted;
  caf::actor previous;  // the registry that held the session, null for none
  std::string previous_node;
};

// Registry -> the client slice's directory: the session of `client_id` on
// the sender's node ended. Ignored when the directory knows it elsewhere.
struct session_gone {
  std::string client_id;
  std::string node;
};

// One session a registry holds, as it reports it to a directory.
struct directory_entry {
  std::string client_id;
  principal_ptr owner;
  bool owner_unknown = false;
};

// Registry -> a client slice's directory when it learns that directory
// serves the slice: every session of the slice the registry holds (a
// directory is soft state, rebuilt from the members whenever the slice
// changes hands; each member is the authority for its own sessions).
struct directory_report {
  std::uint32_t slice = 0;
  std::string node;
  caf::actor registry;
  std::vector<directory_entry> entries;
};

// Directory -> registry: two members reported a session of `client_id`
// (one of them restored a record from before the other's claim); the
// receiver's copy is the stale one and ends.
struct session_superseded {
  std::string client_id;
};

// Cluster agent -> the local directory: the slices this node serves, with
// the epoch of its claim (0: not this node's), and the members whose
// registries report to it.
struct directory_view {
  std::string self;
  std::vector<std::int64_t> epochs;    // one per client slice
  std::vector<std::string> members;    // in the view, this node included
  std::vector<std::string> reachable;  // members whose link is up, this node included
};

// Cluster agent -> the local registry: the directory serving each client
// slice (null while none is reachable).
struct directory_homes {
  std::string self;
  std::vector<caf::actor> directories;
  std::vector<caf::actor> registries;  // of the other members whose link is up
};

// New member's registry -> the registry that held the session, a request
// answered with takeover_answer.
struct session_takeover {
  std::string client_id;
  principal_ptr owner;
  bool clean_start = false;
  std::string node;  // of the new connection, for the logs
};

enum class takeover_outcome : std::uint8_t {
  none = 0,       // no session of this client id here (it ended meanwhile)
  moved = 1,      // `record` is the session; `old_session` finishes the move
  discarded = 2,  // a clean start: the session ended here
  foreign = 3,    // another identity's session: the CONNECT is refused
  busy = 4,       // the session is itself changing hands here: ask again
};

struct takeover_answer {
  takeover_outcome outcome = takeover_outcome::none;
  session_record record;
  caf::actor old_session;
};

// Registry -> its session: hand the session over to another member (or end
// it, for a clean start). Answered with takeover_answer.
struct move_out {
  bool clean_start = false;
};

// Registry -> the session it spawned for a session arriving from another
// member: install `record`, subscribe, fetch what reached `old_session`
// meanwhile, then attach the connection.
struct move_in {
  session_record record;
  caf::actor old_session;
  attach_connection attach;
};

// New session -> old session, a request answered with move_rest once the
// new session's subscriptions are in place: the old one leaves its shards
// and hands over the deliveries that reached it since it was moved.
struct moved_in {};

struct move_rest {
  std::vector<delivery> deliveries;
};

// Old session -> itself: the new one did not finish the move in time.
struct move_deadline {};

// Registry -> a client slice's directory, answered with session_location:
// where the session of `client_id` is, for the management API of a member
// that does not hold it.
struct session_locate {
  std::string client_id;
};

struct session_location {
  caf::actor registry;  // null: no member holds a session of the client id
  std::string node;
};

// Registry -> every other member's registry, answered with session_page: a
// page of the receiver's own sessions, for a listing across the cluster.
struct session_page_here {
  session_page_request request;
};

// Registry -> the registry holding a session, answered with session_page
// (one session or none): the lookup of session_lookup on that member only.
struct session_lookup_here {
  std::string client_id;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, session_claim& x) {
  return f(caf::meta::type_name("convoy.session_claim"), x.client_id, x.node, x.registry, x.owner);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, session_claim_reply& x) {
  return f(caf::meta::type_name("convoy.session_claim_reply"), x.outcome, x.previous,
           x.previous_node);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, session_gone& x) {
  return f(caf::meta::type_name("convoy.session_gone"), x.client_id, x.node);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, directory_entry& x) {
  return f(caf::meta::type_name("convoy.directory_entry"), x.client_id, x.owner, x.owner_unknown);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, directory_report& x) {
  return f(caf::meta::type_name("convoy.directory_report"), x.slice, x.node, x.registry, x.entries);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, session_superseded& x) {
  return f(caf::meta::type_name("convoy.session_superseded"), x.client_id);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, directory_view& x) {
  return f(caf::meta::type_name("convoy.directory_view"), x.self, x.epochs, x.members, x.reachable);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, directory_homes& x) {
  return f(caf::meta::type_name("convoy.directory_homes"), x.self, x.directories, x.registries);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, session_takeover& x) {
  return f(caf::meta::type_name("convoy.session_takeover"), x.client_id, x.owner, x.clean_start,
           x.node);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, takeover_answer& x) {
  return f(caf::meta::type_name("convoy.takeover_answer"), x.outcome, x.record, x.old_session);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, move_out& x) {
  return f(caf::meta::type_name("convoy.move_out"), x.clean_start);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, move_in& x) {
  return f(caf::meta::type_name("convoy.move_in"), x.record, x.old_session, x.attach);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, moved_in&) {
  return f(caf::meta::type_name("convoy.moved_in"));
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, session_locate& x) {
  return f(caf::meta::type_name("convoy.session_locate"), x.client_id);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, session_location& x) {
  return f(caf::meta::type_name("convoy.session_location"), x.registry, x.node);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, session_page_here& x) {
  return f(caf::meta::type_name("convoy.session_page_here"), x.request);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, session_lookup_here& x) {
  return f(caf::meta::type_name("convoy.session_lookup_here"), x.client_id);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, move_deadline&) {
  return f(caf::meta::type_name("convoy.move_deadline"));
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, move_rest& x) {
  return f(caf::meta::type_name("convoy.move_rest"), x.deliveries);
}

}  // namespace convoy
