#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <caf/meta/type_name.hpp>

#include "cluster/etcd_json.hpp"

namespace convoy::cluster {

// One member of the cluster as it registered in etcd: under
// /convoy/<cluster>/members/<node>, a JSON value, held by the member's lease.
struct member_record {
  std::string node;              // node.name, unique in the cluster
  std::int64_t incarnation = 0;  // the etcd revision that created the key: new on every join
  std::string host;              // where other nodes and redirected clients reach it
  std::uint16_t cluster_port = 0;
  std::uint16_t mqtt_port = 0;
  std::uint16_t http_port = 0;  // 0: no management API
  std::int64_t joined_at_ms = 0;
  std::string version;
  bool operator==(const member_record&) const = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, member_record& x) {
  return f(caf::meta::type_name("convoy.member_record"), x.node, x.incarnation, x.host,
           x.cluster_port, x.mqtt_port, x.http_port, x.joined_at_ms, x.version);
}

// The etcd key prefixes of a cluster.
std::string cluster_prefix(std::string_view cluster);  // "/convoy/<cluster>/"
std::string members_prefix(std::string_view cluster);  // ".../members/"

// The value registered for `self` (everything but node and incarnation,
// which the key and its creation revision tell).
std::string member_value(const member_record& self);

// The member a key-value of the members prefix describes; nullopt for a
// key or value that is not one (written by something else than a node).
std::optional<member_record> member_from(const etcd::key_value& kv, std::string_view prefix);

}  // namespace convoy::cluster
