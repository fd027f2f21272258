// `convoy ctl cluster`: the cluster's members as the node asked sees them.

#include <iostream>

#include <CLI/CLI.hpp>

#include "runtime/ctl/area.hpp"
#include "runtime/ctl/table.hpp"

namespace convoy::ctl {

void add_cluster_commands(CLI::App& ctl, command_set& set) {
  set.add(ctl.add_subcommand("cluster", "Cluster members, their incarnations and links"),
          [](session& s) {
            output(s, s.call("GET", "/api/v1/cluster"), [](const json& c) {
              if (!c.value("enabled", false)) {
                std::cout << "not in a cluster: node " << text(c["self"])
                          << " runs alone (no cluster.etcd)\n";
                return;
              }
              json f = c;
              f["etcdEndpoint"] = c["etcd"]["endpoint"];
              if (!c["etcd"]["error"].is_null()) f["etcdError"] = c["etcd"]["error"];
              print_fields(f, {{"cluster", "name"},
                               {"this node", "self"},
                               {"phase", "phase"},
                               {"incarnation", "incarnation"},
                               {"acting as member", "authority"},
                               {"etcd", "etcdEndpoint"},
                               {"etcd failing", "etcdError"},
                               {"etcd revision", "revision"}});
              std::cout << "\n";
              json rows = json::array();
              for (const auto& m : c["members"]) {
                json r = m;
                r["address"] =
                    m.value("host", std::string{}) + ":" + std::to_string(m.value("mqttPort", 0));
                r["cluster"] = m.value("host", std::string{}) + ":" +
                               std::to_string(m.value("clusterPort", 0));
                rows.push_back(std::move(r));
              }
              print_rows(rows, {{"MEMBER", "node"},
                                {"INCARNATION", "incarnation"},
                                {"MQTT", "address"},
                                {"CLUSTER", "cluster"},
                                {"LINK", "link"},
                                {"JOINED", "joinedAt"},
                                {"VERSION", "version"}});
              std::cout << "\n";
              print_rows(c["slices"], {{"KIND", "kind"},
                                       {"SLICE", "slice"},
                                       {"OWNER", "owner"},
                                       {"EPOCH", "epoch"},
                                       {"STATE", "state"},
                                       {"HOLDER", "holder"},
                                       {"SUCCESSOR", "successor"}});
            });
          });
}

}  // namespace convoy::ctl
