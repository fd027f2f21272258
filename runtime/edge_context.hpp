#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_set>

#include <caf/actor.hpp>

#include "actors/broker_context.hpp"

namespace convoy::runtime {

class mqtt_connection;

// What every connection of an MQTT edge shares.
struct edge_context {
  caf::actor registry;
  context_ptr broker;
  std::uint32_t connect_timeout_ms = 10'000;
  std::size_t max_outbound_bytes = 4 * 1'048'576;

  // Live connections, so that shutdown can say goodbye to each.
  std::mutex connections_mutex;
  std::unordered_set<std::shared_ptr<mqtt_connection>> connections;

  void add(const std::shared_ptr<mqtt_connection>& c) {
    std::lock_guard lock{connections_mutex};
    connections.insert(c);
  }
  void remove(const std::shared_ptr<mqtt_connection>& c) {
    std::lock_guard lock{connections_mutex};
    connections.erase(c);
  }
  template <class F>
  void for_each_connection(F&& f) {
    std::vector<std::shared_ptr<mqtt_connection>> copy;
    {
      std::lock_guard lock{connections_mutex};
      copy.assign(connections.begin(), connections.end());
    }
    for (auto& c : copy)
      f(c);
  }
};

}  // namespace convoy::runtime
