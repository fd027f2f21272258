#include "cluster/slice_claims.hpp"

#include <charconv>

#include <nlohmann/json.hpp>

#include "cluster/member_record.hpp"
#include "cluster/slice_ownership.hpp"

namespace convoy::cluster {

std::string owners_prefix(std::string_view cluster) {
  return cluster_prefix(cluster) + "owners/";
}

std::string claim_key(std::string_view cluster, slice_id id) {
  return owners_prefix(cluster) + std::string{placement::to_string(id.kind)} + "/" +
         std::to_string(id.slice);
}

std::string claim_value(std::string_view node, std::int64_t incarnation) {
  return nlohmann::json{{"node", node}, {"incarnation", incarnation}}.dump();
}

slice_claims::slice_claims(std::string cluster, std::vector<kind_count> kinds)
    : prefix_(owners_prefix(cluster)), kinds_(std::move(kinds)) {}

std::optional<slice_id> slice_claims::id_of(std::string_view key) const {
  if (!key.starts_with(prefix_)) return std::nullopt;
  key.remove_prefix(prefix_.size());
  auto slash = key.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto kind_name = key.substr(0, slash);
  auto number = key.substr(slash + 1);
  for (const auto& k : kinds_) {
    if (placement::to_string(k.kind) != kind_name) continue;
    std::uint32_t n = 0;
    auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), n);
    if (ec != std::errc{} || end != number.data() + number.size() || n >= k.count)
      return std::nullopt;
    return slice_id{k.kind, n};
  }
  return std::nullopt;
}

namespace {

std::optional<slice_claim> claim_from(const etcd::key_value& kv) {
  auto j = nlohmann::json::parse(kv.value, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  auto node = j.find("node");
  auto incarnation = j.find("incarnation");
  if (node == j.end() || !node->is_string() || incarnation == j.end() ||
      !incarnation->is_number_integer())
    return std::nullopt;
  return slice_claim{node->get<std::string>(), incarnation->get<std::int64_t>(),
                     kv.create_revision};
}

}  // namespace

void slice_claims::snapshot(const std::vector<etcd::key_value>& kvs) {
  claims_.clear();
  for (const auto& kv : kvs) {
    auto id = id_of(kv.key);
    if (!id) continue;
    if (auto c = claim_from(kv)) claims_[*id] = std::move(*c);
  }
}

bool slice_claims::apply(const etcd::watch_message::event& e) {
  auto id = id_of(e.kv.key);
  if (!id) return false;
  if (e.deleted) return claims_.erase(*id) > 0;
  auto c = claim_from(e.kv);
  if (!c) return false;
  claims_[*id] = std::move(*c);
  return true;
}

std::vector<slice_claims::action> slice_claims::plan(
    const std::string& self, std::int64_t incarnation,
    const std::vector<std::string>& members) const {
  std::vector<action> out;
  for (const auto& k : kinds_) {
    for (std::uint32_t s = 0; s < k.count; ++s) {
      slice_id id{k.kind, s};
      const bool mine = owner_of(k.kind, s, members) == self;
      auto it = claims_.find(id);
      if (it == claims_.end()) {
        if (mine) out.push_back({action::verb::claim, id, 0});
      } else if (!mine && it->second.node == self && it->second.incarnation == incarnation) {
        out.push_back({action::verb::release, id, it->second.epoch});
      }
    }
  }
  return out;
}

std::vector<slice_claims::row> slice_claims::table(const std::vector<std::string>& members) const {
  std::vector<row> out;
  for (const auto& k : kinds_) {
    for (std::uint32_t s = 0; s < k.count; ++s) {
      row r;
      r.id = {k.kind, s};
      auto ranked = owner_and_replicas(k.kind, s, members, 1);
      if (!ranked.empty()) r.owner = ranked[0];
      if (ranked.size() > 1) r.successor = ranked[1];
      if (auto it = claims_.find(r.id); it != claims_.end()) r.claim = it->second;
      out.push_back(std::move(r));
    }
  }
  return out;
}

}  // namespace convoy::cluster
