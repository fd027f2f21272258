#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/routing/session_moves.hpp"

namespace convoy {

// The session directory of the client slices this member holds the claims
// of: for each client id with a session anywhere in the cluster, the member
// whose registry holds it and the identity that owns it. Claims for one
// client id are answered one after the other here, so two CONNECTs of it on
// two members end with one session, the later connection's.
//
// A directory is soft state: a slice taken over starts empty and collects
// the reports of every reachable member's registry (at most
// collect_window) before it answers claims, so that a session held anywhere
// is known before a claim could start a second one.
struct directory_slice {
  enum class phase : std::uint8_t {
    not_held,    // another member serves the slice (reports are kept anyway)
    collecting,  // taken over: claims wait for the members' reports
    serving,
  };
  struct held {
    std::uint16_t member = 0;  // index into session_directory_state::members
    bool owner_unknown = false;
    principal_ptr owner;
  };
  struct waiting_claim {
    session_claim claim;
    caf::typed_response_promise<session_claim_reply> promise;
  };
  phase at = phase::not_held;
  std::int64_t epoch = 0;
  std::unordered_set<std::string>
      reported;                       // members whose registry reported since it changed hands
  std::vector<std::string> awaiting;  // reachable members yet to report
  std::vector<waiting_claim> waiting;
  std::unordered_map<std::string, held> sessions;
};

// Directory -> itself: the time to collect reports for a slice is over.
struct collect_deadline {
  std::uint32_t slice = 0;
  std::int64_t epoch = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, collect_deadline& x) {
  return f(caf::meta::type_name("convoy.collect_deadline"), x.slice, x.epoch);
}

struct session_directory_state {
  std::string self;
  // The members entries name, by index: a compact entry per client id.
  struct member {
    std::string node;
    caf::actor registry;
  };
  std::vector<member> members;
  std::vector<directory_slice> slices;
  static inline const char* name = "session_directory";
};

using session_directory_actor = caf::stateful_actor<session_directory_state>;

// How long a slice taken over waits for the members' reports.
constexpr auto collect_window = std::chrono::seconds(3);
// Claims waiting for a collecting slice, at most; beyond, they are asked to
// come again (not_home).
constexpr std::size_t max_waiting_claims = 10'000;

caf::behavior session_directory(session_directory_actor* self);

}  // namespace convoy
