#include "cluster/membership.hpp"

namespace convoy::cluster {

const char* to_string(membership_phase p) {
  switch (p) {
    case membership_phase::joining:
      return "joining";
    case membership_phase::member:
      return "member";
    case membership_phase::stepped_down:
      return "stepped_down";
    case membership_phase::leaving:
      return "leaving";
  }
  return "?";
}

membership::membership(std::string self, std::string members_prefix)
    : self_(std::move(self)), prefix_(std::move(members_prefix)) {}

void membership::lease_granted(std::int64_t lease, std::chrono::seconds ttl,
                               clock::time_point sent) {
  if (phase_ == membership_phase::leaving) return;
  lease_ = lease;
  ttl_ = ttl;
  phase_ = membership_phase::joining;
  authority_until_ = sent + ttl_ * 3 / 4;
}

void membership::registered(std::int64_t revision, clock::time_point sent) {
  if (phase_ != membership_phase::joining || lease_ == 0) return;
  incarnation_ = revision;
  phase_ = membership_phase::member;
  authority_until_ = sent + ttl_ * 3 / 4;
}

void membership::renewed(std::int64_t ttl_left, clock::time_point sent) {
  if (phase_ != membership_phase::member && phase_ != membership_phase::stepped_down) return;
  if (ttl_left <= 0) return rejoin();
  // Renewals may come back out of order; a later deadline only.
  authority_until_ = std::max(authority_until_, sent + ttl_ * 3 / 4);
  phase_ = membership_phase::member;
}

bool membership::tick(clock::time_point now) {
  if (phase_ == membership_phase::member && now >= authority_until_) {
    phase_ = membership_phase::stepped_down;
    return true;
  }
  return false;
}

void membership::rejoin() {
  phase_ = membership_phase::joining;
  lease_ = 0;
  incarnation_ = 0;
}

void membership::snapshot(const std::vector<etcd::key_value>& kvs, std::int64_t revision) {
  members_.clear();
  for (const auto& kv : kvs)
    if (auto m = member_from(kv, prefix_)) members_[m->node] = std::move(*m);
  revision_ = read_at_ = revision;
  // A table read after this incarnation registered must hold it; if not,
  // the key was deleted (its lease expired) while the node could not see it.
  const bool registered =
      phase_ == membership_phase::member || phase_ == membership_phase::stepped_down;
  if (!registered || revision < incarnation_) return;
  auto self = members_.find(self_);
  if (self == members_.end() || self->second.incarnation != incarnation_) rejoin();
}

bool membership::apply(const etcd::watch_message::event& e) {
  if (!fresh(e)) return false;
  revision_ = std::max(revision_, e.kv.mod_revision);
  if (!e.kv.key.starts_with(prefix_)) return false;
  std::string node = e.kv.key.substr(prefix_.size());
  if (e.deleted) {
    auto it = members_.find(node);
    if (it == members_.end()) return false;
    // Only the deletion of the key this incarnation created ends it; a
    // deletion seen late, after the node joined again, does not.
    bool mine = node == self_ && it->second.incarnation == incarnation_;
    members_.erase(it);
    if (mine && phase_ != membership_phase::leaving) rejoin();
    return true;
  }
  auto m = member_from(e.kv, prefix_);
  if (!m) return false;
  members_[node] = std::move(*m);
  return true;
}

}  // namespace convoy::cluster
