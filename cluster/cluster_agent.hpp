#pragma once

#include <chrono>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

namespace convoy::cluster {

// The cluster agent: one per node, published on the node's cluster port, so
// that the agent of every other member is what a node dials. It takes the
// membership keeper's views (cluster_view), keeps a link to each member
// (dialled through the middleman asynchronously, watched with a monitor:
// a peer that dies or whose link times out sends a down_msg), and answers
// cluster_status_request for the API and the metrics.
//
// Each link is a small state machine: connecting -> up -> down ->
// (after a pause) connecting, for as long as the member is in the view; a
// member that joins again with a new incarnation gets a fresh link.
caf::actor spawn_cluster_agent(caf::actor_system& system, std::chrono::milliseconds dial_timeout);

}  // namespace convoy::cluster
