#include "actors/routing/session_registry.hpp"

#include <algorithm>

#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include <spdlog/spdlog.h>

#include "actors/core/inspection.hpp"
#include "actors/core/metrics.hpp"
#include "actors/core/request_bounds.hpp"
#include "actors/session/session.hpp"

namespace convoy {

namespace {

caf::actor spawn_session(session_registry_actor* self, const std::string& client_id,
                         principal_ptr owner, bool owner_unknown = false) {
  auto& st = self->state;
  auto s = self->spawn(session, st.ctx);
  self->monitor(s);
  st.sessions[client_id] = session_entry{s, std::move(owner), owner_unknown};
  st.client_of[s.address()] = client_id;
  return s;
}

void forget(session_registry_state& st, const caf::actor_addr& addr) {
  auto it = st.client_of.find(addr);
  if (it == st.client_of.end()) return;
  auto s = st.sessions.find(it->second);
  if (s != st.sessions.end() && s->second.session.address() == addr) st.sessions.erase(s);
  st.client_of.erase(it);
}

// Unproven identities (anonymous clients, unchecked usernames) are all the
// same nobody: they own nothing the others could not take.
bool same_identity(const principal_ptr& a, const principal_ptr& b) {
  auto proven = [](const principal_ptr& p) { return p && p->verified; };
  if (!proven(a) || !proven(b)) return proven(a) == proven(b);
  return a->method == b->method && a->identity == b->identity;
}

std::string describe(const principal_ptr& p) {
  if (!p || !p->verified) return "an anonymous client";
  return "'" + p->identity + "'";
}

// Someone else's session: the connection is refused and the session, its
// subscriptions and queue stay as they are for their owner.
void refuse_foreign(connect_request& req, const principal_ptr& owner) {
  metrics::add(counter::refused_session_owner);
  spdlog::warn("refused {} for client id '{}': the session belongs to {}",
               describe(req.params.principal), req.params.client_id, describe(owner));
  req.sink->refuse(mqtt::reason_code::not_authorized,
                   "the session of this client identifier belongs to another identity");
}

void hand_over(session_registry_actor* self, connect_request req);

// Gives the connection to an existing session. A session may end while the
// attach is on its way; then a fresh one takes the connection.
void resume(session_registry_actor* self, caf::actor existing, connect_request req) {
  attach_connection attach{req.params, req.sink};
  if (auto it = self->state.sessions.find(req.params.client_id); it != self->state.sessions.end()) {
    // A session of unknown owner (from an older record) is adopted by the
    // first client that resumes it.
    it->second.owner = req.params.principal;
    it->second.owner_unknown = false;
  }
  self->request(existing, caf::infinite, std::move(attach))
      .then([](bool) {},
            [self, existing, req](caf::error&) mutable {
              forget(self->state, existing.address());
              req.params.clean_start = true;  // nothing left to resume
              hand_over(self, std::move(req));
            });
}

void start_fresh(session_registry_actor* self, connect_request req, bool replaced_stored) {
  caf::actor fresh = spawn_session(self, req.params.client_id, req.params.principal);
  caf::anon_send(fresh,
                 attach_connection{std::move(req.params), std::move(req.sink), replaced_stored});
}

void finish_replacing(session_registry_actor* self, connect_request req, bool erasing) {
  auto& st = self->state;
  auto waiting = std::move(st.replacing[req.params.client_id].waiting);
  st.replacing.erase(req.params.client_id);
  start_fresh(self, std::move(req), erasing);
  for (auto& next : waiting)
    hand_over(self, std::move(next));
}

void hand_over(session_registry_actor* self, connect_request req) {
  auto& st = self->state;
  const std::string& client_id = req.params.client_id;
  if (auto pending = st.replacing.find(client_id); pending != st.replacing.end()) {
    if (!same_identity(pending->second.owner, req.params.principal))
      return refuse_foreign(req, pending->second.owner);
    pending->second.waiting.push_back(std::move(req));
    return;
  }
  auto it = st.sessions.find(client_id);
  if (it == st.sessions.end()) return start_fresh(self, std::move(req), false);
  if (!it->second.owner_unknown && !same_identity(it->second.owner, req.params.principal))
    return refuse_foreign(req, it->second.owner);
  if (!req.params.clean_start) {
    resume(self, it->second.session, std::move(req));
    return;
  }
  // Clean start: the old session ends (deleting its stored record) and a new
  // one begins once it has answered, so that the new session's writes come
  // after all of the old one's.
  caf::actor old = it->second.session;
  forget(st, old.address());
  st.replacing[client_id].owner = req.params.principal;
  self->request(old, caf::infinite, discard_session{})
      .then([self, req](bool erasing) mutable { finish_replacing(self, std::move(req), erasing); },
            [self, req](caf::error&) mutable { finish_replacing(self, std::move(req), false); });
}

// The login, now with the region the registry holds for its vehicle.
void take_region(connect_request& req, std::string region) {
  client_principal with_region = *req.params.principal;
  with_region.region = std::move(region);
  req.params.principal = make_principal(std::move(with_region));
}

// The vehicle's region, for {region} in access rules, when the registry
// knows it; the vehicle connects either way.
void admit_with_region(session_registry_actor* self, connect_request req) {
  const principal_ptr& who = req.params.principal;
  registry_check check{who->identity, who->fingerprint};
  self->request(self->state.ctx->registry_shards.for_key(who->identity), peer_answer_timeout,
                std::move(check))
      .then(
          [self, req](registry_verdict& verdict) mutable {
            if (!verdict.region.empty()) take_region(req, std::move(verdict.region));
            hand_over(self, std::move(req));
          },
          [self, req](caf::error& e) mutable {
            spdlog::warn(
                "device registry did not answer for '{}' ({}): connected without its "
                "region",
                req.params.principal->identity, to_string(e));
            hand_over(self, std::move(req));
          });
}

// A vehicle logging in by certificate must be registered and active, and
// connect from an active device (when the registry is required); its
// region comes with the verdict, for {region} in access rules (also when
// the registry is not required).
void admit(session_registry_actor* self, connect_request req) {
  const auto& ctx = *self->state.ctx;
  const principal_ptr& who = req.params.principal;
  if (!who || who->method != auth_method::certificate || ctx.registry_shards.empty())
    return hand_over(self, std::move(req));
  if (!ctx.registry_required) return admit_with_region(self, std::move(req));
  registry_check check{who->identity, who->fingerprint};
  self->request(ctx.registry_shards.for_key(who->identity), peer_answer_timeout, std::move(check))
      .then(
          [self, req](registry_verdict& verdict) mutable {
            if (!verdict.allowed) {
              metrics::add(counter::refused_not_registered);
              spdlog::info("refused '{}' (client id '{}'): {}", req.params.principal->identity,
                           req.params.client_id, verdict.reason);
              req.sink->refuse(mqtt::reason_code::not_authorized, verdict.reason);
              return;
            }
            take_region(req, std::move(verdict.region));
            hand_over(self, std::move(req));
          },
          [req](caf::error& e) mutable {
            spdlog::error("device registry did not answer for '{}': {}",
                          req.params.principal->identity, to_string(e));
            req.sink->refuse(mqtt::reason_code::server_unavailable, "device registry unavailable");
          });
}

}  // namespace

// One page of client ids in byte order, found in one pass over the map: a
// page costs O(sessions), which an operator's listing can afford, and keeps
// the map unordered for the lookups every CONNECT makes.
session_page page_of(const session_registry_state& st, const session_page_request& r) {
  session_page page;
  page.total = st.sessions.size();
  std::size_t limit = std::clamp<std::size_t>(r.limit, 1, 1000);
  std::vector<const std::pair<const std::string, session_entry>*> matches;
  for (const auto& entry : st.sessions) {
    const std::string& id = entry.first;
    if (!r.after.empty() && id <= r.after) continue;
    if (!id.starts_with(r.prefix)) continue;
    matches.push_back(&entry);
  }
  auto by_id = [](const auto* a, const auto* b) { return a->first < b->first; };
  if (matches.size() > limit) {
    std::nth_element(matches.begin(), matches.begin() + static_cast<std::ptrdiff_t>(limit),
                     matches.end(), by_id);
    matches.resize(limit);
    page.more = true;
  }
  std::sort(matches.begin(), matches.end(), by_id);
  for (const auto* m : matches) {
    page.client_ids.push_back(m->first);
    page.sessions.push_back(m->second.session);
  }
  return page;
}

caf::behavior session_registry(session_registry_actor* self, context_ptr ctx) {
  self->state.ctx = std::move(ctx);
  self->set_down_handler([self](const caf::down_msg& down) { forget(self->state, down.source); });
  // Sessions are monitored, not linked (one failing session must not take
  // the registry down), so node shutdown is passed on to them by hand.
  self->set_exit_handler([self](const caf::exit_msg& msg) {
    for (const auto& [session, client_id] : self->state.client_of)
      self->send_exit(session, msg.reason);
    self->quit(msg.reason);
  });
  return {
      [self](connect_request& req) { admit(self, std::move(req)); },
      [self](const session_page_request& r) { return page_of(self->state, r); },
      [self](const session_lookup& r) {
        session_page page;
        page.total = self->state.sessions.size();
        if (auto it = self->state.sessions.find(r.client_id); it != self->state.sessions.end()) {
          page.client_ids.push_back(it->first);
          page.sessions.push_back(it->second.session);
        }
        return page;
      },
      [self](mailbox_probe) { return static_cast<std::uint64_t>(self->mailbox().size()); },
      [self](const vehicle_changed& changed) {
        // Only the vehicle's own sessions (those its certificate made) care.
        for (const auto& [client_id, entry] : self->state.sessions)
          if (entry.owner && entry.owner->method == auth_method::certificate &&
              entry.owner->identity == changed.vin)
            self->send(entry.session, changed);
      },
      [self](restore_session& r) {
        caf::actor fresh = spawn_session(self, r.record.params.client_id, r.record.params.principal,
                                         r.record.owner_unknown);
        return self->delegate(fresh, std::move(r));
      },
      [self](access_changed) {
        for (const auto& [session, client_id] : self->state.client_of)
          self->send(caf::actor_cast<caf::actor>(session), access_changed{});
      },
  };
}

}  // namespace convoy
