#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/meta/type_name.hpp>

#include "actors/core/messages.hpp"

namespace convoy {

// The messages between the topic shards of one slice on different members
// of a cluster. Subscriptions stay on the node of their session; each shard
// tells the same slice's shard on every other member which filters its
// node's sessions hold, and a publish goes, once per member with matching
// subscriptions, to that member's shard, which fans it out to its own
// sessions (see docs/CLUSTER.md, "Routing").

// Shard -> peer shard: filters the sender's node now holds (`added`) or no
// longer holds (`removed`). With `replace`, what the receiver knew from the
// sender is dropped first: sent when the two shards meet.
struct peer_routes_update {
  caf::actor shard;  // the sender's shard, where messages for these filters go
  bool replace = false;
  std::vector<std::string> added;
  std::vector<std::string> removed;
};

// Shard -> peer shard, a request answered with true: a filter new on the
// sender's node. Its SUBACK waits for the answer of every peer, so that a
// message published anywhere after the SUBACK reaches the new subscription.
struct peer_filter_added {
  caf::actor shard;
  std::string filter;
};

// Shard -> peer shard: a message published on the sender's node, for every
// subscription of the receiver's node that matches it, and for one member
// each of the shared subscriptions listed (the sender picked this node for
// them). QoS 1/2 go as a request answered with route_outcome once the
// message is stored for the receiver's persistent sessions.
struct peer_route {
  message_ref msg;
  std::vector<std::string> shared_filters;  // $share/{group}/{filter}
};

// Shard -> peer shard: the QoS 0 routes one run of the sender's mailbox
// produced for the receiver, as one message. Answered with peer_route_ack.
struct peer_route_batch {
  caf::actor shard;
  std::vector<peer_route> routes;
};

// Peer shard -> shard: a batch was handled; its routes and bytes leave the
// sender's window for this peer.
struct peer_route_ack {
  std::uint32_t routes = 0;
  std::uint64_t bytes = 0;
};

// Cluster agent -> topic shard: the shard of the same slice on a member whose
// link came up, and the bounds of what may be on its way to it.
struct peer_shard {
  std::string node;
  caf::actor shard;
  std::uint32_t window_messages = 0;
  std::uint64_t window_bytes = 0;
};

// Cluster agent -> topic shard: where the slice's retained messages live,
// the member holding the slice's claim in etcd (its home). `shard` is the
// home's shard of the slice, this shard itself when this node is the home,
// or null while there is none this node can reach (no holder, its link is
// down, or this node has stepped down): retained writes then wait, bounded,
// and subscriptions get no retained messages. When this node has just
// become the home, `previous` is the shard of the member that was, if it is
// reachable: the new home takes the slice's retained messages over from it
// before it serves them.
struct slice_home {
  std::string holder;
  std::int64_t epoch = 0;
  caf::actor shard;
  caf::actor previous;
};

// New home shard -> previous home shard, answered with retained_page: the
// retained messages it kept for the slice, a page at a time, after the
// topic `after`. With the last page the previous home forgets them, from
// its storage too.
struct retained_handover {
  std::string after;
};

// Shard -> the slice's home shard, a request answered with route_outcome
// once the home keeps it (stored, when it has storage): a retained message
// published on the sender's node (an empty payload deletes). `epoch` is the
// home's epoch as the sender knows it; a shard that is not the home with
// that epoch refuses.
struct retained_put {
  message_ref msg;
  std::int64_t epoch = 0;
};

// Shard -> the slice's home shard, a request answered with
// retained_matches: the retained messages matching a new subscription.
struct retained_match {
  std::string filter;
  std::int64_t epoch = 0;
};

struct retained_matches {
  std::vector<message_ref> messages;
};

// Node -> its own topic shard when the node stops as a member: the shard is
// no longer its slice's home. Answered with whether it was, with retained
// messages for a new home to take over.
struct leaving_home {};

// Node -> its own topic shard, answered with how many retained messages it
// still keeps: a stopping member waits until they have been handed over.
struct retained_held_request {};

// Cluster agent -> a member's agent, answered with topic_shard_list.
struct topic_shards_request {};

struct topic_shard_list {
  std::uint32_t key_levels = 0;  // broker.shard_key_levels: placement must agree
  std::vector<caf::actor> shards;
  caf::actor session_directory;  // of the client slices the member serves
  caf::actor session_registry;   // for listings of sessions across members
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, peer_routes_update& x) {
  return f(caf::meta::type_name("convoy.peer_routes_update"), x.shard, x.replace, x.added,
           x.removed);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, peer_filter_added& x) {
  return f(caf::meta::type_name("convoy.peer_filter_added"), x.shard, x.filter);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, peer_route& x) {
  return f(caf::meta::type_name("convoy.peer_route"), x.msg, x.shared_filters);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, peer_route_batch& x) {
  return f(caf::meta::type_name("convoy.peer_route_batch"), x.shard, x.routes);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, peer_route_ack& x) {
  return f(caf::meta::type_name("convoy.peer_route_ack"), x.routes, x.bytes);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, peer_shard& x) {
  return f(caf::meta::type_name("convoy.peer_shard"), x.node, x.shard, x.window_messages,
           x.window_bytes);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, slice_home& x) {
  return f(caf::meta::type_name("convoy.slice_home"), x.holder, x.epoch, x.shard, x.previous);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, retained_handover& x) {
  return f(caf::meta::type_name("convoy.retained_handover"), x.after);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, retained_put& x) {
  return f(caf::meta::type_name("convoy.retained_put"), x.msg, x.epoch);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, retained_match& x) {
  return f(caf::meta::type_name("convoy.retained_match"), x.filter, x.epoch);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, retained_matches& x) {
  return f(caf::meta::type_name("convoy.retained_matches"), x.messages);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, leaving_home&) {
  return f(caf::meta::type_name("convoy.leaving_home"));
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, retained_held_request&) {
  return f(caf::meta::type_name("convoy.retained_held_request"));
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, topic_shards_request&) {
  return f(caf::meta::type_name("convoy.topic_shards_request"));
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, topic_shard_list& x) {
  return f(caf::meta::type_name("convoy.topic_shard_list"), x.key_levels, x.shards,
           x.session_directory, x.session_registry);
}

}  // namespace convoy
