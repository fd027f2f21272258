#include "runtime/mqtt_listener.hpp"

#include <spdlog/spdlog.h>

#include "actors/metrics.hpp"
#include "runtime/mqtt_connection.hpp"

namespace convoy::runtime {

namespace asio = boost::asio;

mqtt_listener::mqtt_listener(asio::io_context& io, edge_context& ctx)
    : io_(io), ctx_(ctx), acceptor_(io), retry_timer_(io), sweep_timer_(io) {}

void mqtt_listener::listen(const std::string& address, std::uint16_t port) {
  asio::ip::tcp::endpoint endpoint{asio::ip::make_address(address), port};
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen(asio::socket_base::max_listen_connections);
  accept();
  sweep();
}

// A quarter second of resolution on timeouts measured in seconds.
void mqtt_listener::sweep() {
  sweep_timer_.expires_after(std::chrono::milliseconds(250));
  sweep_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    ctx_.check_silence(steady_now_ms());
    sweep();
  });
}

std::uint16_t mqtt_listener::port() const {
  return acceptor_.local_endpoint().port();
}

void mqtt_listener::stop() {
  boost::system::error_code ec;
  acceptor_.close(ec);
  retry_timer_.cancel();
  sweep_timer_.cancel();
}

void mqtt_listener::accept() {
  acceptor_.async_accept(
      ctx_.pick_io_context(), [this](boost::system::error_code ec, asio::ip::tcp::socket socket) {
        if (ec == asio::error::operation_aborted) return;
        if (ec) {
          // Out of file descriptors or similar: say so once, back off, go on.
          if (!logged_accept_error_) spdlog::error("accept failed: {}", ec.message());
          logged_accept_error_ = true;
          metrics::add(counter::connections_refused);
          retry_timer_.expires_after(std::chrono::milliseconds(100));
          retry_timer_.async_wait([this](boost::system::error_code e) {
            if (!e) accept();
          });
          return;
        }
        logged_accept_error_ = false;
        metrics::add(counter::connections_accepted);
        auto connection = std::make_shared<mqtt_connection>(std::move(socket), ctx_);
        ctx_.add(connection);
        connection->start();
        accept();
      });
}

}  // namespace convoy::runtime
