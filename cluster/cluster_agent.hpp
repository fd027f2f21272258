#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "actors/core/cluster_standing.hpp"

namespace convoy::cluster {

// What the agent introduces to each member it links with: this node's topic
// shards, and the bounds of what each may send to the same slice's shard
// there (cluster.peer_window_*).
struct routing_setup {
  std::vector<caf::actor> topic_shards;
  std::uint32_t key_levels = 1;  // broker.shard_key_levels
  std::uint32_t window_messages = 1000;
  std::uint64_t window_bytes = 4 * 1'048'576;
  // The session directory and registry of this node, and the number of
  // client slices (cluster.client_slices).
  caf::actor session_directory;
  caf::actor session_registry;
  std::uint32_t client_slices = 0;
  // Set from every view: whether this node is a member, and which member
  // its clients should go to while it is not.
  standing_ptr standing;
};

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
//
// Once a link is up, the agent asks the member's agent for its topic shards
// and introduces each to this node's shard of the same slice (peer_shard),
// which then exchanges routes with it (actors/routing/peer_routes.hpp), and
// learns the member's session directory: the agent tells this node's
// directory which client slices it serves and this node's registry which
// directory serves each slice (actors/routing/session_directory.hpp). Two
// nodes whose topic placement differs (broker.topic_shards or
// broker.shard_key_levels) do not route to each other; their link shows why.
caf::actor spawn_cluster_agent(caf::actor_system& system, std::chrono::milliseconds dial_timeout,
                               routing_setup routing);

}  // namespace convoy::cluster
