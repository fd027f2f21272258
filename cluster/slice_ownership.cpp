#include "cluster/slice_ownership.hpp"

#include <algorithm>
#include <utility>

#include "actors/placement/stable_hash.hpp"

namespace convoy::cluster {

namespace {

std::uint64_t weight(std::string_view member, placement::slice_kind kind, std::uint32_t slice) {
  std::string key;
  key.reserve(member.size() + 24);
  key.append(member);
  key.push_back('\0');
  key.append(placement::to_string(kind));
  key.push_back('\0');
  key.append(std::to_string(slice));
  return placement::stable_hash(key);
}

}  // namespace

std::vector<std::string> ranked_members(placement::slice_kind kind, std::uint32_t slice,
                                        const std::vector<std::string>& members) {
  std::vector<std::pair<std::uint64_t, const std::string*>> ranked;
  ranked.reserve(members.size());
  for (const auto& m : members)
    ranked.emplace_back(weight(m, kind, slice), &m);
  std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : *a.second < *b.second;
  });
  std::vector<std::string> out;
  out.reserve(ranked.size());
  for (const auto& [w, m] : ranked)
    out.push_back(*m);
  return out;
}

std::string owner_of(placement::slice_kind kind, std::uint32_t slice,
                     const std::vector<std::string>& members) {
  const std::string* best = nullptr;
  std::uint64_t best_weight = 0;
  for (const auto& m : members) {
    auto w = weight(m, kind, slice);
    if (!best || w > best_weight || (w == best_weight && m < *best)) {
      best = &m;
      best_weight = w;
    }
  }
  return best ? *best : std::string{};
}

std::vector<std::string> owner_and_replicas(placement::slice_kind kind, std::uint32_t slice,
                                            const std::vector<std::string>& members,
                                            std::size_t replicas) {
  auto ranked = ranked_members(kind, slice, members);
  if (ranked.size() > replicas + 1) ranked.resize(replicas + 1);
  return ranked;
}

}  // namespace convoy::cluster
