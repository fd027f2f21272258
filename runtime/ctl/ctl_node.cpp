// `convoy ctl node` and `stats`: the node's status and counters.

#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "runtime/ctl/area.hpp"
#include "runtime/ctl/table.hpp"

namespace convoy::ctl {

void add_node_commands(CLI::App& ctl, command_set& set) {
  set.add(ctl.add_subcommand("node", "Node status"), [](session& s) {
    output(s, s.call("GET", "/api/v1/node"), [](const json& n) {
      print_fields(n, {{"name", "name"},
                       {"version", "version"},
                       {"uptime (s)", "uptimeSeconds"},
                       {"connections", "connections"},
                       {"sessions", "sessions"},
                       {"topic shards", "topicShards"},
                       {"storage", "storage"},
                       {"memory (bytes)", "residentMemoryBytes"}});
      std::cout << "\n";
      print_rows(n["listeners"], {{"LISTENER", "protocol"}, {"PORT", "port"}});
    });
  });

  auto* stats = ctl.add_subcommand("stats", "Counters and gauges");
  auto nonzero = std::make_shared<bool>(false);
  stats->add_flag("--nonzero", *nonzero, "Only counters that are not 0");
  set.add(stats, [nonzero](session& s) {
    output(s, s.call("GET", "/api/v1/stats"), [nonzero](const json& st) {
      table t({"NAME", "VALUE"});
      for (const auto& [k, v] : st["gauges"].items())
        t.add({k, text(v)});
      for (const auto& [k, v] : st["counters"].items())
        if (!*nonzero || v.get<std::uint64_t>() != 0) t.add({k, text(v)});
      t.print(std::cout);
    });
  });
}

}  // namespace convoy::ctl
