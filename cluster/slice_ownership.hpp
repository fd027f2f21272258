#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "actors/placement/slice_kind.hpp"

namespace convoy::cluster {

// Which live member owns a slice, and which hold its replicas: rendezvous
// (highest random weight) hashing with the placement's stable hash. Each
// member's weight for a slice is
//   stable_hash(member_id + '\0' + kind + '\0' + decimal slice number)
// and members rank by weight, highest first (ties by member id). The first
// is the owner, the next `replicas` its replicas. A member that leaves moves
// only the slices it owned or replicated; one that joins takes only the
// slices it now wins, about 1/n of each kind.
std::vector<std::string> ranked_members(placement::slice_kind kind, std::uint32_t slice,
                                        const std::vector<std::string>& members);

// The owner of a slice; empty when there are no members.
std::string owner_of(placement::slice_kind kind, std::uint32_t slice,
                     const std::vector<std::string>& members);

// The owner followed by up to `replicas` further members.
std::vector<std::string> owner_and_replicas(placement::slice_kind kind, std::uint32_t slice,
                                            const std::vector<std::string>& members,
                                            std::size_t replicas);

}  // namespace convoy::cluster
