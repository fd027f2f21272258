#include "cluster/cluster_agent.hpp"

#include <map>

#include <spdlog/spdlog.h>
#include <caf/all.hpp>
#include <caf/io/middleman.hpp>

#include "actors/core/messages.hpp"
#include "actors/core/metrics.hpp"
#include "actors/core/request_bounds.hpp"
#include "actors/routing/peer_routes.hpp"
#include "actors/routing/session_moves.hpp"
#include "cluster/cluster_view.hpp"

namespace convoy::cluster {

namespace {

enum class link_phase : std::uint8_t { connecting, up, down };

const char* to_string(link_phase p) {
  switch (p) {
    case link_phase::connecting:
      return "connecting";
    case link_phase::up:
      return "up";
    case link_phase::down:
      return "down";
  }
  return "?";
}

struct link {
  member_record member;
  link_phase phase = link_phase::connecting;
  epoch_ms since = 0;
  std::string error;
  caf::actor remote;               // the peer's agent while up
  std::vector<caf::actor> shards;  // the peer's topic shards, once introduced
  caf::actor directory;            // the peer's session directory, once introduced
  caf::actor registry;             // the peer's session registry, once introduced
};

constexpr auto redial_pause = std::chrono::seconds(1);

struct agent_state {
  cluster_view view;
  std::map<std::string, link> links;  // by node name, every member but this node
  std::chrono::milliseconds dial_timeout{2000};
  routing_setup routing;
  std::vector<slice_home> homes;  // as last sent to each topic shard
  // The last member other than this node seen holding each topic slice:
  // where its retained messages are when this node takes the slice over.
  std::vector<std::string> earlier_holders;
  // The topic shards of members that left while their link was up (a
  // stop): they stay reachable for a while, so that the members taking
  // their slices over can take the retained messages too.
  std::map<std::string, std::vector<caf::actor>> departed;
  // As last sent to the session directory and registry of this node.
  directory_view sent_view;
  std::vector<caf::actor> sent_directories;
  std::vector<caf::actor> sent_registries;
  static inline const char* name = "cluster_agent";
};

using agent = caf::stateful_actor<agent_state>;

void enter(link& l, link_phase p, std::string error = {}) {
  l.phase = p;
  l.since = now_ms();
  l.error = std::move(error);
}

// Tells each topic shard where its slice's retained messages live: the
// shard of the member holding the slice's claim, if this node can reach it
// (its own, unless it has stepped down). Sent when that changes.
void send_homes(agent* self) {
  auto& s = self->state;
  const auto n = s.routing.topic_shards.size();
  if (s.homes.size() != n) s.homes.assign(n, slice_home{"?", -1, nullptr, nullptr});
  if (s.earlier_holders.size() != n) s.earlier_holders.assign(n, {});
  auto shard_of = [&](const std::string& node, std::uint32_t slice) -> caf::actor {
    if (auto it = s.links.find(node);
        it != s.links.end() && it->second.phase == link_phase::up && it->second.shards.size() == n)
      return it->second.shards[slice];
    if (auto d = s.departed.find(node); d != s.departed.end() && d->second.size() == n)
      return d->second[slice];
    return nullptr;
  };
  for (const auto& row : s.view.slices) {
    if (row.kind != "topic" || row.slice >= n) continue;
    slice_home h{row.holder, row.epoch, nullptr, nullptr};
    auto& last = s.homes[row.slice];
    auto& earlier = s.earlier_holders[row.slice];
    if (row.holder == s.view.self) {
      if (s.view.authority) h.shard = s.routing.topic_shards[row.slice];
      // Taken over from another member (not back after a step down): its
      // retained messages are still there.
      if (h.shard && last.holder != s.view.self && !earlier.empty())
        h.previous = shard_of(earlier, row.slice);
    } else if (!row.holder.empty()) {
      h.shard = shard_of(row.holder, row.slice);
    }
    if (!row.holder.empty() && row.holder != s.view.self) earlier = row.holder;
    if (last.holder == h.holder && last.epoch == h.epoch && last.shard == h.shard) continue;
    last = h;
    self->send(s.routing.topic_shards[row.slice], std::move(h));
  }
}

// Tells this node's session directory which client slices it serves, and
// this node's registry which directory serves each (null: none reachable).
void send_directories(agent* self) {
  auto& s = self->state;
  const auto& r = s.routing;
  if (!r.session_directory || !r.session_registry || r.client_slices == 0 || s.view.self.empty())
    return;
  directory_view v{s.view.self, std::vector<std::int64_t>(r.client_slices, 0), {}, {s.view.self}};
  std::vector<caf::actor> homes(r.client_slices);
  std::vector<caf::actor> registries;
  for (const auto& m : s.view.members)
    v.members.push_back(m.node);
  for (const auto& [node, l] : s.links)
    if (l.phase == link_phase::up && l.directory) {
      v.reachable.push_back(node);
      if (l.registry) registries.push_back(l.registry);
    }
  for (const auto& row : s.view.slices) {
    if (row.kind != "client" || row.slice >= r.client_slices || row.holder.empty()) continue;
    if (row.holder == s.view.self) {
      if (!s.view.authority) continue;
      v.epochs[row.slice] = row.epoch;
      homes[row.slice] = r.session_directory;
    } else if (auto it = s.links.find(row.holder);
               it != s.links.end() && it->second.phase == link_phase::up) {
      homes[row.slice] = it->second.directory;
    }
  }
  if (v.self != s.sent_view.self || v.epochs != s.sent_view.epochs ||
      v.members != s.sent_view.members || v.reachable != s.sent_view.reachable) {
    s.sent_view = v;
    self->send(r.session_directory, std::move(v));
  }
  if (homes != s.sent_directories || registries != s.sent_registries) {
    s.sent_directories = homes;
    s.sent_registries = registries;
    self->send(r.session_registry,
               directory_homes{s.view.self, std::move(homes), std::move(registries)});
  }
}

// Tells the registry and the sessions whether this node is a member, and
// where their clients should go while it is not: another member's MQTT
// listener, the same one for all of them (the first by name).
void set_standing(agent* self) {
  auto& s = self->state;
  if (!s.routing.standing) return;
  std::string referral;
  for (const auto& m : s.view.members)
    if (m.node != s.view.self && m.mqtt_port != 0) {
      referral = m.host + ":" + std::to_string(m.mqtt_port);
      break;
    }
  s.routing.standing->set(s.view.authority, std::move(referral));
}

// Introduces the member's topic shards to this node's, slice by slice.
void introduce_shards(agent* self, const std::string& node, std::int64_t incarnation) {
  auto it = self->state.links.find(node);
  if (it == self->state.links.end() || !it->second.remote) return;
  self->request(it->second.remote, peer_answer_timeout, topic_shards_request{})
      .then(
          [self, node, incarnation](topic_shard_list& list) {
            auto it = self->state.links.find(node);
            if (it == self->state.links.end() || it->second.member.incarnation != incarnation)
              return;
            const auto& r = self->state.routing;
            it->second.directory = list.session_directory;
            it->second.registry = list.session_registry;
            send_directories(self);
            if (list.shards.size() != r.topic_shards.size() || list.key_levels != r.key_levels) {
              it->second.error = "no routing: broker.topic_shards " +
                                 std::to_string(r.topic_shards.size()) + " and shard_key_levels " +
                                 std::to_string(r.key_levels) + " here, " +
                                 std::to_string(list.shards.size()) + " and " +
                                 std::to_string(list.key_levels) + " there";
              spdlog::error("cluster {}: {} ({}): every member needs the same topic placement",
                            self->state.view.cluster, node, it->second.error);
              return;
            }
            for (std::size_t i = 0; i < list.shards.size(); ++i)
              self->send(r.topic_shards[i],
                         peer_shard{node, list.shards[i], r.window_messages, r.window_bytes});
            it->second.shards = std::move(list.shards);
            send_homes(self);
            send_directories(self);
            spdlog::info("cluster {}: routing with {} through {} topic shards",
                         self->state.view.cluster, node, it->second.shards.size());
          },
          [self, node, incarnation](caf::error& e) {
            // The link went down meanwhile (its down message redials) or the
            // member is too busy to answer: ask again while the link is up.
            auto it = self->state.links.find(node);
            if (it == self->state.links.end() || it->second.member.incarnation != incarnation ||
                it->second.phase != link_phase::up)
              return;
            spdlog::warn("cluster {}: {} did not name its topic shards: {}",
                         self->state.view.cluster, node, self->system().render(e));
            introduce_shards(self, node, incarnation);
          });
}

void dial(agent* self, const std::string& node) {
  auto& l = self->state.links.at(node);
  enter(l, link_phase::connecting);
  const auto incarnation = l.member.incarnation;
  self->request(self->system().middleman().actor_handle(), self->state.dial_timeout,
                caf::connect_atom::value, l.member.host, l.member.cluster_port)
      .then(
          [self, node, incarnation](const caf::node_id&, caf::strong_actor_ptr& peer,
                                    const std::set<std::string>&) {
            auto it = self->state.links.find(node);
            if (it == self->state.links.end() || it->second.member.incarnation != incarnation)
              return;  // the member left or came back as another incarnation meanwhile
            auto& l = it->second;
            if (!peer) {
              enter(l, link_phase::down, "nothing published at the member's cluster port");
              self->delayed_send(self, redial_pause, redial{node, incarnation});
              return;
            }
            l.remote = caf::actor_cast<caf::actor>(peer);
            self->monitor(l.remote);
            enter(l, link_phase::up);
            spdlog::info("cluster {}: link to {} (incarnation {}) at {}:{} is up",
                         self->state.view.cluster, node, incarnation, l.member.host,
                         l.member.cluster_port);
            introduce_shards(self, node, incarnation);
          },
          [self, node, incarnation](caf::error& e) {
            auto it = self->state.links.find(node);
            if (it == self->state.links.end() || it->second.member.incarnation != incarnation)
              return;
            enter(it->second, link_phase::down, self->system().render(e));
            spdlog::debug("cluster {}: cannot reach {} at {}:{}: {}", self->state.view.cluster,
                          node, it->second.member.host, it->second.member.cluster_port,
                          it->second.error);
            self->delayed_send(self, redial_pause, redial{node, incarnation});
          });
}

// How long a departed member's shards stay reachable for hand-overs.
constexpr auto departed_grace = std::chrono::seconds(10);

void drop(agent* self, std::map<std::string, link>::iterator it) {
  if (it->second.remote) self->demonitor(it->second.remote);
  if (it->second.phase == link_phase::up && !it->second.shards.empty()) {
    self->state.departed[it->first] = std::move(it->second.shards);
    self->delayed_send(self, departed_grace, forget_departed{it->first});
  }
  self->state.links.erase(it);
}

// A new view: links for members that joined (or joined again), none for
// those that left.
void take_view(agent* self, cluster_view v) {
  auto& s = self->state;
  std::map<std::string, const member_record*> now;
  for (const auto& m : v.members)
    if (m.node != v.self) now[m.node] = &m;
  for (auto it = s.links.begin(); it != s.links.end();) {
    auto found = now.find(it->first);
    if (found == now.end() || found->second->incarnation != it->second.member.incarnation) {
      spdlog::info("cluster {}: member {} (incarnation {}) left", v.cluster, it->first,
                   it->second.member.incarnation);
      metrics::add(counter::cluster_members_left);
      drop(self, it++);
    } else {
      it->second.member = *found->second;  // same incarnation; addresses as registered
      ++it;
    }
  }
  s.view = std::move(v);
  for (const auto& [node, m] : now) {
    if (s.links.contains(node)) continue;
    spdlog::info("cluster {}: member {} (incarnation {}) joined, MQTT at {}:{}", s.view.cluster,
                 node, m->incarnation, m->host, m->mqtt_port);
    metrics::add(counter::cluster_members_joined);
    s.departed.erase(node);
    s.links[node].member = *m;
    dial(self, node);
  }
}

caf::behavior cluster_agent(agent* self, std::chrono::milliseconds dial_timeout,
                            routing_setup routing) {
  self->state.dial_timeout = dial_timeout;
  self->state.routing = std::move(routing);
  self->set_down_handler([self](caf::down_msg& d) {
    for (auto& [node, l] : self->state.links) {
      if (!l.remote || l.remote.address() != d.source) continue;
      l.remote = nullptr;
      l.shards.clear();
      l.directory = nullptr;
      l.registry = nullptr;
      enter(l, link_phase::down, self->system().render(d.reason));
      metrics::add(counter::cluster_peer_links_lost);
      spdlog::warn("cluster {}: link to {} (incarnation {}) is down: {}", self->state.view.cluster,
                   node, l.member.incarnation, l.error);
      self->delayed_send(self, redial_pause, redial{node, l.member.incarnation});
      send_homes(self);
      send_directories(self);
      return;
    }
  });
  return {
      [self](cluster_view& v) {
        take_view(self, std::move(v));
        set_standing(self);
        send_homes(self);
        send_directories(self);
      },
      [self](const forget_departed& f) { self->state.departed.erase(f.node); },
      [self](const topic_shards_request&) {
        const auto& r = self->state.routing;
        return topic_shard_list{r.key_levels, r.topic_shards, r.session_directory,
                                r.session_registry};
      },
      [self](redial& r) {
        auto it = self->state.links.find(r.node);
        if (it == self->state.links.end() || it->second.member.incarnation != r.incarnation ||
            it->second.phase != link_phase::down)
          return;
        dial(self, r.node);
      },
      [self](const cluster_status_request&) {
        cluster_status out;
        out.view = self->state.view;
        for (const auto& m : out.view.members) {
          peer_link pl{m.node, m.incarnation, "self", 0, {}};
          if (auto it = self->state.links.find(m.node); it != self->state.links.end()) {
            pl.state = to_string(it->second.phase);
            pl.since_ms = it->second.since;
            pl.error = it->second.error;
          }
          out.links.push_back(std::move(pl));
        }
        return out;
      },
  };
}

}  // namespace

caf::actor spawn_cluster_agent(caf::actor_system& system, std::chrono::milliseconds dial_timeout,
                               routing_setup routing) {
  return system.spawn(cluster_agent, dial_timeout, std::move(routing));
}

}  // namespace convoy::cluster
