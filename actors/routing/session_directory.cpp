#include "actors/routing/session_directory.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "actors/core/metrics.hpp"
#include "actors/placement/stable_hash.hpp"

namespace convoy {

namespace {

using phase = directory_slice::phase;

std::uint16_t member_index(session_directory_state& st, const std::string& node,
                           const caf::actor& registry) {
  for (std::size_t i = 0; i < st.members.size(); ++i)
    if (st.members[i].node == node) {
      if (registry) st.members[i].registry = registry;
      return static_cast<std::uint16_t>(i);
    }
  st.members.push_back({node, registry});
  return static_cast<std::uint16_t>(st.members.size() - 1);
}

session_claim_reply answer(session_directory_state& st, directory_slice& slice,
                           const session_claim& c) {
  auto it = slice.sessions.find(c.client_id);
  session_claim_reply reply;
  if (it != slice.sessions.end()) {
    const auto& held = it->second;
    if (!held.owner_unknown && !same_identity(held.owner, c.owner)) {
      reply.outcome = claim_outcome::foreign;
      return reply;
    }
    const auto& m = st.members[held.member];
    reply.previous = m.node == c.node ? c.registry : m.registry;
    reply.previous_node = m.node;
  }
  slice.sessions[c.client_id] = {member_index(st, c.node, c.registry), false, c.owner};
  return reply;
}

void serve(session_directory_state& st, std::uint32_t index) {
  auto& slice = st.slices[index];
  slice.at = phase::serving;
  if (!slice.awaiting.empty())
    spdlog::warn("session directory: client slice {} serves without the report of {} member(s)",
                 index, slice.awaiting.size());
  slice.awaiting.clear();
  auto waiting = std::move(slice.waiting);
  slice.waiting.clear();
  for (auto& w : waiting)
    w.promise.deliver(answer(st, slice, w.claim));
}

void refuse_waiting(directory_slice& slice) {
  for (auto& w : slice.waiting)
    w.promise.deliver(session_claim_reply{claim_outcome::not_home, nullptr, {}});
  slice.waiting.clear();
}

void note_report(session_directory_state& st, std::uint32_t index, const std::string& node) {
  auto& slice = st.slices[index];
  slice.reported.insert(node);
  std::erase(slice.awaiting, node);
  if (slice.at == phase::collecting && slice.awaiting.empty()) serve(st, index);
}

void take_view(session_directory_actor* self, const directory_view& v) {
  auto& st = self->state;
  st.self = v.self;
  if (st.slices.size() != v.epochs.size()) st.slices.resize(v.epochs.size());
  // Sessions of members that left are gone with them.
  std::vector<bool> gone(st.members.size(), false);
  for (std::size_t i = 0; i < st.members.size(); ++i)
    gone[i] = std::find(v.members.begin(), v.members.end(), st.members[i].node) == v.members.end();
  auto reachable = [&](const std::string& node) {
    return std::find(v.reachable.begin(), v.reachable.end(), node) != v.reachable.end();
  };
  for (std::uint32_t i = 0; i < st.slices.size(); ++i) {
    auto& slice = st.slices[i];
    std::erase_if(slice.sessions, [&](const auto& e) { return gone[e.second.member]; });
    for (std::size_t m = 0; m < gone.size(); ++m)
      if (gone[m]) slice.reported.erase(st.members[m].node);
    const std::int64_t epoch = v.epochs[i];
    if (epoch == 0) {
      if (slice.at != phase::not_held) {
        refuse_waiting(slice);
        slice.sessions.clear();
        slice.reported.clear();
        slice.awaiting.clear();
      }
      slice.at = phase::not_held;
      slice.epoch = 0;
      continue;
    }
    if (slice.at == phase::not_held) {
      // Taken over: what was reported while another member served the
      // slice stays; the other reachable members are waited for.
      slice.at = phase::collecting;
      slice.awaiting.clear();
      for (const auto& node : v.reachable)
        if (!slice.reported.contains(node)) slice.awaiting.push_back(node);
      self->delayed_send(self, collect_window, collect_deadline{i, epoch});
    }
    slice.epoch = epoch;
    std::erase_if(slice.awaiting, [&](const std::string& node) { return !reachable(node); });
    if (slice.at == phase::collecting && slice.awaiting.empty()) serve(st, i);
  }
}

void take_report(session_directory_actor* self, directory_report& r) {
  auto& st = self->state;
  if (r.slice >= st.slices.size()) return;
  auto& slice = st.slices[r.slice];
  const auto member = member_index(st, r.node, r.registry);
  // A report replaces what the member reported before for the slice.
  std::erase_if(slice.sessions, [&](const auto& e) { return e.second.member == member; });
  for (auto& e : r.entries) {
    auto [it, fresh] = slice.sessions.try_emplace(
        e.client_id, directory_slice::held{member, e.owner_unknown, std::move(e.owner)});
    if (fresh) continue;
    // Two members hold a session of one client id: the one known first (a
    // claim, or the earlier report) keeps it; the other copy can only be a
    // record restored from before that claim.
    metrics::add(counter::sessions_superseded);
    spdlog::warn(
        "session directory: client '{}' is held by {} and was reported by {} too: {}'s "
        "copy ends",
        e.client_id, st.members[it->second.member].node, r.node, r.node);
    self->send(r.registry, session_superseded{e.client_id});
  }
  note_report(st, r.slice, r.node);
}

}  // namespace

caf::behavior session_directory(session_directory_actor* self) {
  return {
      [self](const directory_view& v) { take_view(self, v); },
      [self](directory_report& r) { take_report(self, r); },
      [self](const collect_deadline& d) {
        auto& st = self->state;
        if (d.slice >= st.slices.size()) return;
        auto& slice = st.slices[d.slice];
        if (slice.at == phase::collecting && slice.epoch == d.epoch) serve(st, d.slice);
      },
      [self](session_claim& c) -> caf::result<session_claim_reply> {
        auto& st = self->state;
        if (st.slices.empty()) return session_claim_reply{claim_outcome::not_home, nullptr, {}};
        const auto index =
            placement::slice_of(c.client_id, static_cast<std::uint32_t>(st.slices.size()));
        auto& slice = st.slices[index];
        if (slice.at == phase::serving) return answer(st, slice, c);
        if (slice.at == phase::not_held || slice.waiting.size() >= max_waiting_claims)
          return session_claim_reply{claim_outcome::not_home, nullptr, {}};
        auto promise = self->make_response_promise<session_claim_reply>();
        slice.waiting.push_back({std::move(c), promise});
        return promise;
      },
      [self](const session_locate& l) {
        auto& st = self->state;
        if (st.slices.empty()) return session_location{};
        const auto& slice = st.slices[placement::slice_of(
            l.client_id, static_cast<std::uint32_t>(st.slices.size()))];
        auto it = slice.sessions.find(l.client_id);
        if (slice.at == phase::not_held || it == slice.sessions.end()) return session_location{};
        const auto& m = st.members[it->second.member];
        return session_location{m.registry, m.node};
      },
      [self](const session_gone& g) {
        auto& st = self->state;
        if (st.slices.empty()) return;
        auto& slice = st.slices[placement::slice_of(g.client_id,
                                                    static_cast<std::uint32_t>(st.slices.size()))];
        auto it = slice.sessions.find(g.client_id);
        if (it != slice.sessions.end() && st.members[it->second.member].node == g.node)
          slice.sessions.erase(it);
      },
  };
}

}  // namespace convoy
