#include "actors/placement/stable_hash.hpp"

#include <cassert>

namespace convoy::placement {

std::uint64_t stable_hash(std::string_view key) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a 64 offset basis
  for (unsigned char c : key) {
    h ^= c;
    h *= 0x100000001b3ull;  // FNV-1a 64 prime
  }
  // fmix64
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

std::uint32_t slice_of(std::uint64_t hash, std::uint32_t slice_count) noexcept {
  assert(slice_count > 0);
  return static_cast<std::uint32_t>((static_cast<unsigned __int128>(hash) * slice_count) >> 64);
}

}  // namespace convoy::placement
