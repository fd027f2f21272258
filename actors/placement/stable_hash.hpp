#pragma once

#include <cstdint>
#include <string_view>

namespace convoy::placement {

// The one hash behind every key-to-slice mapping (topics, VINs, client ids).
// Every node and every build must agree on it, so it is specified bit for bit
// (docs/DESIGN.md, "Placement") and pinned by tests/unit/placement_test.cpp;
// std::hash promises neither. Changing it moves every key: a cluster whose
// nodes disagree would send one vehicle's messages to two owners.
//
// 64-bit FNV-1a over the key's bytes, then MurmurHash3's fmix64 finalizer:
// FNV-1a alone leaves the high bits of short, similar keys (VINs that differ
// in their last digits) poorly mixed, and slice_of reads the high bits.
std::uint64_t stable_hash(std::string_view key) noexcept;

// The slice of a hash among `slice_count` slices: floor(hash * count / 2^64),
// uniform without a division. slice_count must be at least 1.
std::uint32_t slice_of(std::uint64_t hash, std::uint32_t slice_count) noexcept;

inline std::uint32_t slice_of(std::string_view key, std::uint32_t slice_count) noexcept {
  return slice_of(stable_hash(key), slice_count);
}

}  // namespace convoy::placement
