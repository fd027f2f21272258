#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/actor_system_config.hpp>
#include <caf/meta/type_name.hpp>

#include "cluster/member_record.hpp"

namespace convoy::cluster {

// A slice as the view shows it: who should own it, who would next, and
// whose claim etcd holds (empty holder: nobody's, the slice is between
// owners).
struct slice_row {
  std::string kind;
  std::uint32_t slice = 0;
  std::string owner;
  std::string successor;
  std::string holder;
  std::int64_t holder_incarnation = 0;
  std::int64_t epoch = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, slice_row& x) {
  return f(caf::meta::type_name("convoy.slice_row"), x.kind, x.slice, x.owner, x.successor,
           x.holder, x.holder_incarnation, x.epoch);
}

// What this node knows of its cluster, as the membership keeper last saw
// it in etcd: sent to the cluster agent on every change.
struct cluster_view {
  std::string cluster;
  std::string self;
  std::string phase;                   // membership_phase, as text
  std::int64_t incarnation = 0;        // 0 while not registered
  bool authority = false;              // may act as a member now
  std::int64_t revision = 0;           // etcd revision the member table reflects
  std::vector<member_record> members;  // by node name
  std::string etcd_endpoint;           // the endpoint in use
  std::string etcd_error;              // the last failure to reach etcd; empty after a success
  std::vector<slice_row> slices;       // every slice of every kind, in order
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_view& x) {
  return f(caf::meta::type_name("convoy.cluster_view"), x.cluster, x.self, x.phase, x.incarnation,
           x.authority, x.revision, x.members, x.etcd_endpoint, x.etcd_error, x.slices);
}

// The link from this node to a member, as the cluster agent keeps it.
struct peer_link {
  std::string node;
  std::int64_t incarnation = 0;
  std::string state;          // "self", "connecting", "up", "down"
  std::int64_t since_ms = 0;  // when it entered that state (Unix epoch)
  std::string error;          // why the last connection attempt failed or the link went down
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, peer_link& x) {
  return f(caf::meta::type_name("convoy.peer_link"), x.node, x.incarnation, x.state, x.since_ms,
           x.error);
}

// The answer to a cluster_status_request: the view and every link.
struct cluster_status {
  cluster_view view;
  std::vector<peer_link> links;  // one per member, in the order of view.members
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_status& x) {
  return f(caf::meta::type_name("convoy.cluster_status"), x.view, x.links);
}

struct cluster_status_request {};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_status_request&) {
  return f(caf::meta::type_name("convoy.cluster_status_request"));
}

// A link to a member that went down is dialled again after a pause.
struct redial {
  std::string node;
  std::int64_t incarnation = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, redial& x) {
  return f(caf::meta::type_name("convoy.redial"), x.node, x.incarnation);
}

// A departed member's shards are forgotten after a grace period.
struct forget_departed {
  std::string node;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, forget_departed& x) {
  return f(caf::meta::type_name("convoy.forget_departed"), x.node);
}

void register_cluster_message_types(caf::actor_system_config& cfg);

}  // namespace convoy::cluster
