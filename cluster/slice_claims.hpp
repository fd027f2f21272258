#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "actors/placement/slice_kind.hpp"
#include "cluster/etcd_json.hpp"

namespace convoy::cluster {

struct slice_id {
  placement::slice_kind kind = placement::slice_kind::topic;
  std::uint32_t slice = 0;
  auto operator<=>(const slice_id&) const = default;
};

// A member's claim on a slice: the key /convoy/<cluster>/owners/<kind>/<slice>,
// created only where none exists and held by the claimant's lease, so that
// it vanishes with the member. The key's creation revision is the slice's
// epoch: the fencing token its owner's writes will carry.
struct slice_claim {
  std::string node;
  std::int64_t incarnation = 0;
  std::int64_t epoch = 0;
  bool operator==(const slice_claim&) const = default;
};

std::string owners_prefix(std::string_view cluster);  // "/convoy/<cluster>/owners/"
std::string claim_key(std::string_view cluster, slice_id id);
std::string claim_value(std::string_view node, std::int64_t incarnation);

// The slices of a cluster and who claims them, as read and watched from
// etcd, and what this node must do about them. Pure: the keeper does the
// etcd calls.
//
// Who should own a slice is decided by rendezvous hashing over the live
// members (slice_ownership). A member claims each slice it should own that
// nobody claims, and releases each slice it claims but should no longer
// own; a slice whose claimant should not own it stays with that claimant
// until it lets go (or its lease ends), so at most one member ever holds a
// slice.
class slice_claims {
 public:
  struct kind_count {
    placement::slice_kind kind;
    std::uint32_t count;
  };
  slice_claims(std::string cluster, std::vector<kind_count> kinds);

  void snapshot(const std::vector<etcd::key_value>& kvs);
  // A watch event; false for one about no claim key.
  bool apply(const etcd::watch_message::event& e);

  struct action {
    enum class verb : std::uint8_t { claim, release } what;
    slice_id id;
    std::int64_t epoch = 0;  // release: of the claim let go
  };
  // What `self` (as `incarnation`) must do with `members` live. Nothing
  // without authority: a node that may not act as a member claims nothing.
  std::vector<action> plan(const std::string& self, std::int64_t incarnation,
                           const std::vector<std::string>& members) const;

  struct row {
    slice_id id;
    std::string owner;      // who should own it, by rendezvous over the live members
    std::string successor;  // who would own it if the owner left
    std::optional<slice_claim> claim;
  };
  std::vector<row> table(const std::vector<std::string>& members) const;

  const std::map<slice_id, slice_claim>& claims() const { return claims_; }

 private:
  std::optional<slice_id> id_of(std::string_view key) const;

  std::string prefix_;
  std::vector<kind_count> kinds_;
  std::map<slice_id, slice_claim> claims_;
};

}  // namespace convoy::cluster
