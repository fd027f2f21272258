#include "actors/routing/session_registry.hpp"

#include <algorithm>

#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include <spdlog/spdlog.h>

#include "actors/core/inspection.hpp"
#include "actors/core/metrics.hpp"
#include "actors/core/request_bounds.hpp"
#include "actors/placement/stable_hash.hpp"
#include "actors/routing/session_moves.hpp"
#include "actors/session/session.hpp"

namespace convoy {

namespace {

// How long a CONNECT in a cluster may wait for its directory and the member
// that held its session, and how often it asks again meanwhile.
constexpr epoch_ms claim_patience_ms = 5000;
constexpr auto claim_retry_pause = std::chrono::milliseconds(250);
// Each step of a lookup for the management API across members; the API's
// own bound (http.request_timeout_ms) covers the whole.
constexpr auto lookup_timeout = std::chrono::seconds(2);

caf::actor spawn_session(session_registry_actor* self, const std::string& client_id,
                         principal_ptr owner, bool owner_unknown = false) {
  auto& st = self->state;
  auto s = self->spawn(session, st.ctx);
  self->monitor(s);
  st.sessions[client_id] = session_entry{s, std::move(owner), owner_unknown};
  st.client_of[s.address()] = client_id;
  return s;
}

const caf::actor& directory_of(const session_registry_state& st, const std::string& client_id) {
  static const caf::actor none;
  if (st.directories.empty()) return none;
  return st.directories[placement::slice_of(client_id,
                                            static_cast<std::uint32_t>(st.directories.size()))];
}

// `ended`: the session is gone and no other takes its place here, so its
// directory forgets it (unless it knows the client id on another member by
// now). A session replaced here by a new one is forgotten without that.
void forget(session_registry_actor* self, const caf::actor_addr& addr, bool ended) {
  auto& st = self->state;
  auto it = st.client_of.find(addr);
  if (it == st.client_of.end()) return;
  const std::string& client_id = it->second;
  auto s = st.sessions.find(client_id);
  if (s != st.sessions.end() && s->second.session.address() == addr) {
    st.sessions.erase(s);
    const auto& dir = directory_of(st, client_id);
    if (ended && dir && !st.claiming.contains(client_id) && !st.replacing.contains(client_id))
      self->send(dir, session_gone{client_id, st.node});
  }
  st.client_of.erase(it);
}

std::string describe(const principal_ptr& p) {
  if (!p || !p->verified) return "an anonymous client";
  return "'" + p->identity + "'";
}

// Someone else's session: the connection is refused and the session, its
// subscriptions and queue stay as they are for their owner.
// `owner` is null when another member knows the owner (and logged it).
void refuse_foreign(connect_request& req, const principal_ptr& owner) {
  metrics::add(counter::refused_session_owner);
  spdlog::warn("refused {} for client id '{}': the session belongs to {}",
               describe(req.params.principal), req.params.client_id,
               owner ? describe(owner) : std::string{"another identity"});
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
              forget(self, existing.address(), false);
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
  forget(self, old.address(), false);
  st.replacing[client_id].owner = req.params.principal;
  self->request(old, caf::infinite, discard_session{})
      .then([self, req](bool erasing) mutable { finish_replacing(self, std::move(req), erasing); },
            [self, req](caf::error&) mutable { finish_replacing(self, std::move(req), false); });
}

// ---- in a cluster: claims at the directory, sessions moving in ----

void begin_claim(session_registry_actor* self, connect_request req);

// The client id is settled here (or the connection refused): the next
// connection that waited for it claims it in turn.
void finish_claim(session_registry_actor* self, const std::string& client_id) {
  auto& st = self->state;
  auto it = st.claiming.find(client_id);
  if (it == st.claiming.end()) return;
  auto waiting = std::move(it->second);
  st.claiming.erase(it);
  for (auto& next : waiting)
    begin_claim(self, std::move(next));
}

void send_claim(session_registry_actor* self, connect_request req, epoch_ms deadline);
void ask_previous(session_registry_actor* self, connect_request req, caf::actor previous,
                  epoch_ms deadline);

// No answer yet that settles the claim: ask again shortly, within the
// deadline; past it the connection is refused (the client comes back).
void retry_later(session_registry_actor* self, connect_request req, caf::actor previous,
                 epoch_ms deadline, const std::string& why) {
  if (now_ms() >= deadline) {
    metrics::add(counter::refused_session_directory);
    spdlog::warn("refused client id '{}': {}", req.params.client_id, why);
    std::string client_id = req.params.client_id;
    req.sink->refuse(mqtt::reason_code::server_unavailable, "session directory unavailable");
    finish_claim(self, client_id);
    return;
  }
  self->delayed_send(self, claim_retry_pause,
                     claim_retry{std::move(req), std::move(previous), deadline});
}

// The session arrives from the member that held it.
void move_in_here(session_registry_actor* self, connect_request req, takeover_answer& a) {
  std::string client_id = req.params.client_id;
  caf::actor fresh = spawn_session(self, client_id, req.params.principal);
  move_in m{std::move(a.record), std::move(a.old_session),
            attach_connection{std::move(req.params), std::move(req.sink), false}};
  self->request(fresh, caf::infinite, std::move(m))
      .then([self, client_id](bool) { finish_claim(self, client_id); },
            [self, client_id](caf::error&) { finish_claim(self, client_id); });
}

void on_takeover_answer(session_registry_actor* self, connect_request req, caf::actor previous,
                        epoch_ms deadline, takeover_answer& a) {
  std::string client_id = req.params.client_id;
  switch (a.outcome) {
    case takeover_outcome::moved:
      return move_in_here(self, std::move(req), a);
    case takeover_outcome::busy:
      return retry_later(self, std::move(req), std::move(previous), deadline,
                         "the member holding its session is still moving it");
    case takeover_outcome::foreign:
      refuse_foreign(req, principal_ptr{});
      break;
    case takeover_outcome::none:
    case takeover_outcome::discarded:
      hand_over(self, std::move(req));
      break;
  }
  finish_claim(self, client_id);
}

// The directory said `previous` (another member's registry) held the
// session: it is asked for it.
void ask_previous(session_registry_actor* self, connect_request req, caf::actor previous,
                  epoch_ms deadline) {
  session_takeover t{req.params.client_id, req.params.principal, req.params.clean_start,
                     self->state.node};
  self->request(previous, peer_answer_timeout, std::move(t))
      .then(
          [self, req, previous, deadline](takeover_answer& a) mutable {
            on_takeover_answer(self, std::move(req), std::move(previous), deadline, a);
          },
          [self, req](caf::error& e) mutable {
            // The member died or does not answer: its session is out of
            // reach, and this connection starts without it.
            metrics::add(counter::cluster_session_move_failures);
            spdlog::warn(
                "client '{}': the member that held its session did not hand it over ({}); "
                "it starts afresh here",
                req.params.client_id, to_string(e));
            std::string client_id = req.params.client_id;
            req.params.clean_start = true;
            hand_over(self, std::move(req));
            finish_claim(self, client_id);
          });
}

void on_claim_reply(session_registry_actor* self, connect_request req, epoch_ms deadline,
                    session_claim_reply& r) {
  std::string client_id = req.params.client_id;
  switch (r.outcome) {
    case claim_outcome::not_home:
      return retry_later(self, std::move(req), nullptr, deadline,
                         "no session directory served its slice in time");
    case claim_outcome::foreign:
      refuse_foreign(req, principal_ptr{});
      return finish_claim(self, client_id);
    case claim_outcome::granted:
      break;
  }
  if (r.previous && r.previous != caf::actor_cast<caf::actor>(self))
    return ask_previous(self, std::move(req), std::move(r.previous), deadline);
  hand_over(self, std::move(req));
  finish_claim(self, client_id);
}

void send_claim(session_registry_actor* self, connect_request req, epoch_ms deadline) {
  const caf::actor& dir = directory_of(self->state, req.params.client_id);
  if (!dir)
    return retry_later(self, std::move(req), nullptr, deadline,
                       "no session directory is reachable for its slice");
  session_claim c{req.params.client_id, self->state.node, self, req.params.principal};
  self->request(dir, peer_answer_timeout, std::move(c))
      .then(
          [self, req, deadline](session_claim_reply& r) mutable {
            on_claim_reply(self, std::move(req), deadline, r);
          },
          [self, req, deadline](caf::error& e) mutable {
            retry_later(self, std::move(req), nullptr, deadline,
                        "its session directory did not answer: " + to_string(e));
          });
}

// Alone, a connection goes straight to its session; in a cluster its client
// id is claimed first, one connection of a client id at a time.
void begin_claim(session_registry_actor* self, connect_request req) {
  auto& st = self->state;
  if (st.node.empty()) return hand_over(self, std::move(req));
  auto [it, fresh] = st.claiming.try_emplace(req.params.client_id);
  if (!fresh) {
    it->second.push_back(std::move(req));
    return;
  }
  send_claim(self, std::move(req), now_ms() + claim_patience_ms);
}

// Another member's registry asks for a session this one holds.
caf::result<takeover_answer> on_takeover(session_registry_actor* self, const session_takeover& t) {
  auto& st = self->state;
  if (st.claiming.contains(t.client_id) || st.replacing.contains(t.client_id))
    return takeover_answer{takeover_outcome::busy, {}, {}};
  auto it = st.sessions.find(t.client_id);
  if (it == st.sessions.end()) return takeover_answer{takeover_outcome::none, {}, {}};
  if (!it->second.owner_unknown && !same_identity(it->second.owner, t.owner)) {
    metrics::add(counter::refused_session_owner);
    spdlog::warn("refused {} on {} for client id '{}': the session belongs to {}",
                 describe(t.owner), t.node, t.client_id, describe(it->second.owner));
    return takeover_answer{takeover_outcome::foreign, {}, {}};
  }
  // The session leaves: it is no longer this node's to hand connections
  // to, though its actor lives on until the move is done.
  caf::actor s = it->second.session;
  st.sessions.erase(it);
  auto rp = self->make_response_promise<takeover_answer>();
  self->request(s, peer_answer_timeout, move_out{t.clean_start})
      .then([rp](takeover_answer& a) mutable { rp.deliver(std::move(a)); },
            [rp](caf::error&) mutable {
              rp.deliver(takeover_answer{takeover_outcome::none, {}, {}});
            });
  return rp;
}

// A directory serves a client slice anew: it hears which of its sessions
// this member holds.
void report_sessions(session_registry_actor* self, const std::vector<bool>& changed) {
  auto& st = self->state;
  const auto n = static_cast<std::uint32_t>(st.directories.size());
  std::vector<directory_report> reports(n);
  for (std::uint32_t i = 0; i < n; ++i)
    reports[i] = directory_report{i, st.node, self, {}};
  for (const auto& [client_id, entry] : st.sessions) {
    auto slice = placement::slice_of(client_id, n);
    if (changed[slice])
      reports[slice].entries.push_back({client_id, entry.owner, entry.owner_unknown});
  }
  for (std::uint32_t i = 0; i < n; ++i)
    if (changed[i] && st.directories[i]) self->send(st.directories[i], std::move(reports[i]));
}

void take_homes(session_registry_actor* self, directory_homes& h) {
  auto& st = self->state;
  if (!h.self.empty()) st.node = std::move(h.self);
  std::vector<bool> changed(h.directories.size(), false);
  for (std::size_t i = 0; i < h.directories.size(); ++i)
    changed[i] =
        h.directories[i] && (i >= st.directories.size() || st.directories[i] != h.directories[i]);
  st.directories = std::move(h.directories);
  st.peer_registries = std::move(h.registries);
  report_sessions(self, changed);
}

// A node that is not a member now (joining, or cut off from etcd) takes no
// session: another member may hold it. The client is sent to a member this
// node knows, if any.
void refuse_not_member(connect_request& req, const cluster_standing& standing) {
  metrics::add(counter::refused_not_member);
  std::string referral = standing.referral();
  if (referral.empty())
    return req.sink->refuse(mqtt::reason_code::server_unavailable,
                            "this node is not a member of its cluster now");
  req.sink->refuse(mqtt::reason_code::use_another_server,
                   "this node is not a member of its cluster now", std::move(referral));
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
            begin_claim(self, std::move(req));
          },
          [self, req](caf::error& e) mutable {
            spdlog::warn(
                "device registry did not answer for '{}' ({}): connected without its "
                "region",
                req.params.principal->identity, to_string(e));
            begin_claim(self, std::move(req));
          });
}

// A vehicle logging in by certificate must be registered and active, and
// connect from an active device (when the registry is required); its
// region comes with the verdict, for {region} in access rules (also when
// the registry is not required).
void admit(session_registry_actor* self, connect_request req) {
  const auto& ctx = *self->state.ctx;
  if (ctx.standing && !ctx.standing->member()) return refuse_not_member(req, *ctx.standing);
  const principal_ptr& who = req.params.principal;
  if (!who || who->method != auth_method::certificate || ctx.registry_shards.empty())
    return begin_claim(self, std::move(req));
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
            begin_claim(self, std::move(req));
          },
          [req](caf::error& e) mutable {
            spdlog::error("device registry did not answer for '{}': {}",
                          req.params.principal->identity, to_string(e));
            req.sink->refuse(mqtt::reason_code::server_unavailable, "device registry unavailable");
          });
}

}  // namespace

session_page lookup_here(const session_registry_state& st, const std::string& client_id) {
  session_page page;
  page.total = st.sessions.size();
  if (auto it = st.sessions.find(client_id); it != st.sessions.end()) {
    page.client_ids.push_back(it->first);
    page.sessions.push_back(it->second.session);
  }
  return page;
}

// One session for the management API, wherever in the cluster it is: a
// session held on another member is found through its directory, and the
// API talks to it there.
caf::result<session_page> look_up(session_registry_actor* self, const std::string& client_id) {
  auto& st = self->state;
  auto here = lookup_here(st, client_id);
  const caf::actor& dir = directory_of(st, client_id);
  if (!here.sessions.empty() || !dir) return here;
  auto rp = self->make_response_promise<session_page>();
  self->request(dir, lookup_timeout, session_locate{client_id})
      .then(
          [self, rp, here, client_id](session_location& at) mutable {
            if (!at.registry || at.registry == caf::actor_cast<caf::actor>(self)) {
              rp.deliver(std::move(here));
              return;
            }
            self->request(at.registry, lookup_timeout, session_lookup_here{client_id})
                .then([rp](session_page& page) mutable { rp.deliver(std::move(page)); },
                      [rp, here](caf::error&) mutable { rp.deliver(std::move(here)); });
          },
          [rp, here](caf::error&) mutable { rp.deliver(std::move(here)); });
  return rp;
}

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

// A page of the sessions of every member this one reaches, for the
// management API: each member's first ids after the cursor, merged. A
// member that does not answer in time is left out of the page.
caf::result<session_page> page_everywhere(session_registry_actor* self,
                                          const session_page_request& r) {
  auto& st = self->state;
  auto here = page_of(st, r);
  if (st.peer_registries.empty()) return here;
  struct gathering {
    std::vector<session_page> pages;
    std::size_t pending = 0;
    std::uint32_t limit = 0;
  };
  auto g = std::make_shared<gathering>();
  g->pages.push_back(std::move(here));
  g->pending = st.peer_registries.size();
  g->limit = std::clamp<std::uint32_t>(r.limit, 1, 1000);
  auto rp = self->make_response_promise<session_page>();
  auto settle = [g, rp]() mutable {
    if (--g->pending > 0) return;
    std::vector<std::pair<std::string, caf::actor>> all;
    session_page merged;
    for (auto& p : g->pages) {
      merged.total += p.total;
      merged.more = merged.more || p.more;
      for (std::size_t i = 0; i < p.client_ids.size(); ++i)
        all.emplace_back(std::move(p.client_ids[i]), std::move(p.sessions[i]));
    }
    std::sort(all.begin(), all.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    if (all.size() > g->limit) {
      all.resize(g->limit);
      merged.more = true;
    }
    for (auto& [id, session] : all) {
      merged.client_ids.push_back(std::move(id));
      merged.sessions.push_back(std::move(session));
    }
    rp.deliver(std::move(merged));
  };
  for (const auto& peer : st.peer_registries)
    self->request(peer, lookup_timeout, session_page_here{r})
        .then(
            [g, settle](session_page& p) mutable {
              g->pages.push_back(std::move(p));
              settle();
            },
            [settle](caf::error&) mutable { settle(); });
  return rp;
}

caf::behavior session_registry(session_registry_actor* self, context_ptr ctx) {
  self->state.ctx = std::move(ctx);
  self->set_down_handler([self](const caf::down_msg& down) { forget(self, down.source, true); });
  // Sessions are monitored, not linked (one failing session must not take
  // the registry down), so node shutdown is passed on to them by hand.
  self->set_exit_handler([self](const caf::exit_msg& msg) {
    for (const auto& [session, client_id] : self->state.client_of)
      self->send_exit(session, msg.reason);
    self->quit(msg.reason);
  });
  return {
      [self](connect_request& req) { admit(self, std::move(req)); },
      [self](directory_homes& h) { take_homes(self, h); },
      [self](const session_takeover& t) { return on_takeover(self, t); },
      [self](claim_retry& r) {
        if (r.previous)
          ask_previous(self, std::move(r.req), std::move(r.previous), r.deadline);
        else
          send_claim(self, std::move(r.req), r.deadline);
      },
      [self](const session_superseded& s) {
        auto& st = self->state;
        auto it = st.sessions.find(s.client_id);
        if (it == st.sessions.end()) return;
        caf::actor stale = it->second.session;
        st.sessions.erase(it);
        caf::anon_send(stale, discard_session{});
      },
      [self](const session_page_request& r) { return page_everywhere(self, r); },
      [self](const session_page_here& r) { return page_of(self->state, r.request); },
      [self](const session_lookup& r) { return look_up(self, r.client_id); },
      [self](const session_lookup_here& r) { return lookup_here(self->state, r.client_id); },
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
