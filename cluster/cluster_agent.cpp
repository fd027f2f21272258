#include "cluster/cluster_agent.hpp"

#include <map>

#include <spdlog/spdlog.h>
#include <caf/all.hpp>
#include <caf/io/middleman.hpp>

#include "actors/core/messages.hpp"
#include "actors/core/metrics.hpp"
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
  caf::actor remote;  // the peer's agent while up
};

constexpr auto redial_pause = std::chrono::seconds(1);

struct agent_state {
  cluster_view view;
  std::map<std::string, link> links;  // by node name, every member but this node
  std::chrono::milliseconds dial_timeout{2000};
  static inline const char* name = "cluster_agent";
};

using agent = caf::stateful_actor<agent_state>;

void enter(link& l, link_phase p, std::string error = {}) {
  l.phase = p;
  l.since = now_ms();
  l.error = std::move(error);
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

void drop(agent* self, std::map<std::string, link>::iterator it) {
  if (it->second.remote) self->demonitor(it->second.remote);
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
    s.links[node].member = *m;
    dial(self, node);
  }
}

caf::behavior cluster_agent(agent* self, std::chrono::milliseconds dial_timeout) {
  self->state.dial_timeout = dial_timeout;
  self->set_down_handler([self](caf::down_msg& d) {
    for (auto& [node, l] : self->state.links) {
      if (!l.remote || l.remote.address() != d.source) continue;
      l.remote = nullptr;
      enter(l, link_phase::down, self->system().render(d.reason));
      metrics::add(counter::cluster_peer_links_lost);
      spdlog::warn("cluster {}: link to {} (incarnation {}) is down: {}", self->state.view.cluster,
                   node, l.member.incarnation, l.error);
      self->delayed_send(self, redial_pause, redial{node, l.member.incarnation});
      return;
    }
  });
  return {
      [self](cluster_view& v) { take_view(self, std::move(v)); },
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

caf::actor spawn_cluster_agent(caf::actor_system& system, std::chrono::milliseconds dial_timeout) {
  return system.spawn(cluster_agent, dial_timeout);
}

}  // namespace convoy::cluster
