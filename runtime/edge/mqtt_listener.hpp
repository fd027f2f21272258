#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "protocol/websocket_handshake.hpp"
#include "runtime/edge/edge_context.hpp"
#include "runtime/edge/tls_context.hpp"

namespace convoy::runtime {

// Accepts MQTT clients on one TCP endpoint; each gets an mqtt_connection on
// one of the edge's I/O threads, in turn. With a TLS context source, the
// connections speak TLS with its current context. One listener of an edge
// also runs the edge's silence sweep (connect timeouts and keep alive).
class mqtt_listener {
 public:
  // With upgrade rules, clients speak MQTT over WebSocket (over TLS too
  // when there is a TLS source: wss).
  mqtt_listener(boost::asio::io_context& io, edge_context& ctx, bool runs_sweep = true,
                const tls_context_source* tls = nullptr,
                const websocket::upgrade_rules* websocket = nullptr);

  // Binds and listens; throws boost::system::system_error naming the
  // endpoint if the address is unusable or the port taken.
  void listen(const std::string& address, std::uint16_t port);
  std::uint16_t port() const;
  void stop();

 private:
  void accept();
  void sweep();
  // The reason a new connection from `address` is refused at its CONNECT,
  // or success: the node's connection limit, or its address's connect rate.
  mqtt::reason_code admit(const boost::asio::ip::address& address);

  boost::asio::io_context& io_;
  edge_context& ctx_;
  bool runs_sweep_;
  const tls_context_source* tls_;
  const websocket::upgrade_rules* websocket_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_timer_;
  boost::asio::steady_timer sweep_timer_;
  bool logged_accept_error_ = false;

  // Connect rate per source address: a token bucket each, refilled at
  // mqtt.max_connect_rate_per_address per second. Buckets idle for a minute
  // are dropped, which bounds the table by the addresses of that minute.
  struct bucket {
    double tokens = 0;
    std::int64_t last_ms = 0;
  };
  std::unordered_map<std::string, bucket> buckets_;
  std::uint32_t accepts_since_prune_ = 0;
};

}  // namespace convoy::runtime
