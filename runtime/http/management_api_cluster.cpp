// The cluster route: the members this node knows from etcd, its own
// standing, and the link to every other member.

#include "cluster/cluster_view.hpp"
#include "runtime/http/actor_ask.hpp"
#include "runtime/http/api_call.hpp"

namespace convoy::runtime {

using json = nlohmann::json;

namespace {

json member_json(const cluster::member_record& m, const cluster::peer_link* link) {
  json j{{"node", m.node},
         {"incarnation", m.incarnation},
         {"host", m.host},
         {"clusterPort", m.cluster_port},
         {"mqttPort", m.mqtt_port},
         {"httpPort", m.http_port},
         {"joinedAt", m.joined_at_ms},
         {"version", m.version},
         {"link", link ? link->state : "unknown"}};
  if (link && link->since_ms) j["linkSince"] = link->since_ms;
  if (link && !link->error.empty()) j["linkError"] = link->error;
  return j;
}

}  // namespace

void management_api::cluster_status(std::shared_ptr<call> c) {
  if (!facts_.cluster_agent) {
    // Alone: a cluster of one, without etcd.
    return c->reply(200, {{"enabled", false},
                          {"name", nullptr},
                          {"self", facts_.name},
                          {"phase", "alone"},
                          {"authority", true},
                          {"members", json::array({{{"node", facts_.name},
                                                    {"version", facts_.version},
                                                    {"joinedAt", facts_.started_at_ms},
                                                    {"link", "self"}}})}});
  }
  ask<cluster::cluster_status>(
      system_, facts_.cluster_agent, cluster::cluster_status_request{}, timeout_,
      [c](std::optional<cluster::cluster_status> s) {
        if (!s) return c->fail(504, "the cluster agent did not answer in time");
        const auto& v = s->view;
        json members = json::array();
        for (std::size_t i = 0; i < v.members.size(); ++i)
          members.push_back(
              member_json(v.members[i], i < s->links.size() ? &s->links[i] : nullptr));
        json slices = json::array();
        for (const auto& r : v.slices) {
          json j{{"kind", r.kind}, {"slice", r.slice}, {"owner", r.owner}};
          j["successor"] = r.successor.empty() ? json(nullptr) : json(r.successor);
          if (r.holder.empty()) {
            j["holder"] = nullptr;
            j["state"] = "unclaimed";
          } else {
            j["holder"] = r.holder;
            j["holderIncarnation"] = r.holder_incarnation;
            j["epoch"] = r.epoch;
            j["state"] = r.holder == r.owner ? "owned" : "moving";
          }
          slices.push_back(std::move(j));
        }
        json etcd{{"endpoint", v.etcd_endpoint}};
        etcd["error"] = v.etcd_error.empty() ? json(nullptr) : json(v.etcd_error);
        c->reply(200, {{"enabled", true},
                       {"name", v.cluster},
                       {"self", v.self},
                       {"phase", v.phase.empty() ? "joining" : v.phase},
                       {"incarnation", v.incarnation},
                       {"authority", v.authority},
                       {"revision", v.revision},
                       {"etcd", std::move(etcd)},
                       {"members", std::move(members)},
                       {"slices", std::move(slices)}});
      });
}

}  // namespace convoy::runtime
