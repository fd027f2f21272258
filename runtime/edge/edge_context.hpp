#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <boost/asio/io_context.hpp>

#include <caf/actor.hpp>

#include "actors/core/broker_context.hpp"

namespace convoy::runtime {

class mqtt_connection;
class authenticator;

// What every connection of an MQTT edge shares.
struct edge_context {
  caf::actor registry;
  context_ptr broker;
  std::uint32_t connect_timeout_ms = 10'000;
  std::size_t max_outbound_bytes = 4 * 1'048'576;
  authenticator* auth = nullptr;                   // null: every CONNECT's credentials are accepted
  std::uint32_t max_connections = 0;               // 0: no limit
  std::uint32_t max_connect_rate_per_address = 0;  // per second; 0: no limit
  std::uint32_t auth_failure_delay_ms = 1000;
  std::string certificate_identity_field = "cn";  // tls.identity
  std::uint32_t max_publish_rate = 0;             // PUBLISHes per second per client; 0: none
  std::uint32_t max_publish_bytes_rate = 0;       // bytes per second per client; 0: none
  std::uint32_t max_auth_failure_delay_ms = 30'000;

  // Refused logins per source address: each further failure within ten
  // minutes doubles the delay before its CONNACK. Returns the delay for a
  // failure now, in milliseconds.
  std::uint32_t auth_failure_delay(const std::string& address, std::uint32_t base_ms,
                                   std::int64_t now_ms);
  void auth_succeeded(const std::string& address);

  // One io_context per I/O thread; a connection lives on one of them for
  // its whole life, so its handlers never run concurrently and need no strand.
  std::vector<boost::asio::io_context*> io_contexts;
  std::size_t next_io = 0;
  boost::asio::io_context& pick_io_context() {
    return *io_contexts[next_io++ % io_contexts.size()];
  }

  // Live connections, so that shutdown can say goodbye to each and the
  // silence sweep can check each.
  std::mutex failures_mutex;
  struct failure_record {
    std::uint32_t count = 0;
    std::int64_t last_ms = 0;
  };
  std::unordered_map<std::string, failure_record> failures;

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
  // Closes connections silent for too long (see mqtt_connection::check_silence).
  void check_silence(std::int64_t now_ms);

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
