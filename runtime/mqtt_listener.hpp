#pragma once

#include <cstdint>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "runtime/edge_context.hpp"

namespace convoy::runtime {

// Accepts MQTT clients on one TCP endpoint; each gets an mqtt_connection on
// one of the edge's I/O threads, in turn. It also runs the edge's silence
// sweep (connect timeouts and keep alive).
class mqtt_listener {
 public:
  mqtt_listener(boost::asio::io_context& io, edge_context& ctx);

  // Binds and listens; throws boost::system::system_error naming the
  // endpoint if the address is unusable or the port taken.
  void listen(const std::string& address, std::uint16_t port);
  std::uint16_t port() const;
  void stop();

 private:
  void accept();
  void sweep();

  boost::asio::io_context& io_;
  edge_context& ctx_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_timer_;
  boost::asio::steady_timer sweep_timer_;
  bool logged_accept_error_ = false;
};

}  // namespace convoy::runtime
