#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cluster/etcd_json.hpp"
#include "cluster/member_record.hpp"

namespace convoy::cluster {

// Where this node stands in its cluster.
enum class membership_phase : std::uint8_t {
  joining,       // no lease, or the member key not yet created under it
  member,        // registered, lease renewed in time: may act as a member
  stepped_down,  // registered, but the lease was not renewed in time: acts as no member
  leaving,       // shutting down: the lease is being revoked
};
const char* to_string(membership_phase p);

// This node's membership as a state machine, fed with what etcd answered
// and when. Pure: the keeper (membership_keeper) does the I/O and the
// clock reading.
//
// Authority: etcd expires a lease `ttl` after the last renewal it received,
// which is no earlier than `ttl` after the renewal was sent. The node stops
// acting as a member at sent + ttl * 3/4: before the lease can expire, with
// a quarter of the TTL to spare for clocks that run at different rates.
class membership {
 public:
  using clock = std::chrono::steady_clock;

  membership(std::string self, std::string members_prefix);

  membership_phase phase() const { return phase_; }
  std::int64_t lease() const { return lease_; }
  std::int64_t incarnation() const { return incarnation_; }
  // While the phase is member, the time it holds until without renewal.
  clock::time_point authority_until() const { return authority_until_; }
  bool has_authority(clock::time_point now) const {
    return phase_ == membership_phase::member && now < authority_until_;
  }

  // etcd granted a lease (the request went out at `sent`).
  void lease_granted(std::int64_t lease, std::chrono::seconds ttl, clock::time_point sent);
  // The member key was created under the lease at `revision`.
  void registered(std::int64_t revision, clock::time_point sent);
  // A renewal sent at `sent` came back with `ttl_left` seconds; 0 means the
  // lease is gone and the node must join again, with a new incarnation.
  void renewed(std::int64_t ttl_left, clock::time_point sent);
  // Time passed: true when the node just lost its authority (member ->
  // stepped_down).
  bool tick(clock::time_point now);
  void leave() { phase_ = membership_phase::leaving; }

  // The members from a range read at `revision`; replaces the table. A
  // table without this node's key of this incarnation means its lease is
  // gone: the node joins again.
  void snapshot(const std::vector<etcd::key_value>& kvs, std::int64_t revision);
  // A watch event. Returns false for one the table already reflects (at or
  // below the revision it was read at, see fresh) or one about a key that
  // is no member.
  // Deleting this node's own key means its lease is gone: the node joins again.
  bool apply(const etcd::watch_message::event& e);
  // The revision the table reflects: the next watch starts after it.
  std::int64_t revision() const { return revision_; }
  // Whether an event is newer than the last read (which reflects it
  // otherwise). Events of one revision (a lease's keys deleted together)
  // are all fresh.
  bool fresh(const etcd::watch_message::event& e) const { return e.kv.mod_revision > read_at_; }

  // Members by node name; this node among them once registered.
  const std::map<std::string, member_record>& members() const { return members_; }

 private:
  void rejoin();

  std::string self_;
  std::string prefix_;
  membership_phase phase_ = membership_phase::joining;
  std::int64_t lease_ = 0;
  std::chrono::milliseconds ttl_{0};
  std::int64_t incarnation_ = 0;
  clock::time_point authority_until_{};
  std::int64_t revision_ = 0;
  std::int64_t read_at_ = 0;  // revision of the last snapshot
  std::map<std::string, member_record> members_;
};

}  // namespace convoy::cluster
