#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace convoy::runtime {

// What /metrics shows beyond the process-wide counters, gauges and
// histograms of actors/core/metrics.hpp: what was read from the actors.
struct metrics_readings {
  struct mailbox {
    std::string actor;  // topic_shard, registry_shard, session_registry, ...
    std::uint32_t index = 0;
    std::uint64_t messages = 0;
  };
  std::vector<mailbox> mailboxes;  // those that answered the probe
  struct webhook {
    std::string name;
    std::uint64_t queued = 0;
    bool failing = false;
  };
  std::vector<webhook> webhooks;     // those that answered
  std::uint64_t actors_running = 0;  // CAF's count of live actors
  std::uint64_t topic_shards = 0;
  std::uint64_t registry_shards = 0;
  std::int64_t uptime_seconds = 0;
  std::uint64_t resident_bytes = 0;
  std::string node;
  std::string version;
  // In a cluster: this node's standing and the members it knows.
  struct cluster_member {
    std::string node;
    std::int64_t incarnation = 0;
    std::string link;  // self, connecting, up, down
  };
  struct cluster_reading {
    std::string phase;
    bool authority = false;
    std::int64_t incarnation = 0;
    std::vector<cluster_member> members;
  };
  std::optional<cluster_reading> cluster;
};

// The Prometheus text exposition format (version 0.0.4) of everything the
// node counts: connections and sessions, messages and bytes in and out by
// QoS, refusals and drops by reason, queue depths, actors by kind, mailbox
// sizes, and the publish-to-deliver and storage commit latency histograms.
std::string render_prometheus(const metrics_readings& readings);

// The resident set size of this process, from /proc/self/statm; 0 if unknown.
std::uint64_t resident_memory_bytes();

}  // namespace convoy::runtime
