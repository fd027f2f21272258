#include "runtime/edge/mqtt_listener.hpp"

#include <spdlog/spdlog.h>

#include "actors/core/metrics.hpp"
#include "runtime/edge/listen.hpp"
#include "runtime/edge/mqtt_connection.hpp"

namespace convoy::runtime {

namespace asio = boost::asio;

mqtt_listener::mqtt_listener(asio::io_context& io, edge_context& ctx, bool runs_sweep,
                             const tls_context_source* tls,
                             const websocket::upgrade_rules* websocket)
    : io_(io),
      ctx_(ctx),
      runs_sweep_(runs_sweep),
      tls_(tls),
      websocket_(websocket),
      acceptor_(io),
      retry_timer_(io),
      sweep_timer_(io) {}

void mqtt_listener::listen(const std::string& address, std::uint16_t port) {
  open_acceptor(acceptor_, address, port);
  accept();
  if (runs_sweep_) sweep();
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

mqtt::reason_code mqtt_listener::admit(const asio::ip::address& address) {
  if (ctx_.max_connections > 0) {
    std::size_t live = 0;
    {
      std::lock_guard lock{ctx_.connections_mutex};
      live = ctx_.connections.size();
    }
    if (live >= ctx_.max_connections) {
      metrics::add(counter::refused_connection_limit);
      return mqtt::reason_code::server_busy;
    }
  }
  const double rate = ctx_.max_connect_rate_per_address;
  if (rate <= 0) return mqtt::reason_code::success;
  std::int64_t now = steady_now_ms();
  if (++accepts_since_prune_ >= 1024) {
    accepts_since_prune_ = 0;
    std::erase_if(buckets_, [now](const auto& b) { return now - b.second.last_ms > 60'000; });
  }
  auto [it, fresh] = buckets_.try_emplace(address.to_string(), bucket{rate, now});
  bucket& b = it->second;
  if (!fresh) {
    b.tokens = std::min(rate, b.tokens + rate * static_cast<double>(now - b.last_ms) / 1000.0);
    b.last_ms = now;
  }
  if (b.tokens < 1) {
    metrics::add(counter::refused_connect_rate);
    return mqtt::reason_code::connection_rate_exceeded;
  }
  b.tokens -= 1;
  return mqtt::reason_code::success;
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
        boost::system::error_code peer_ec;
        auto peer = socket.remote_endpoint(peer_ec);
        auto refusal = peer_ec ? mqtt::reason_code::success : admit(peer.address());
        std::shared_ptr<mqtt_connection> connection;
        try {
          connection = std::make_shared<mqtt_connection>(
              std::move(socket), ctx_, tls_ ? tls_->current() : nullptr, websocket_);
        } catch (const std::bad_alloc&) {
          metrics::add(counter::connections_refused);
          spdlog::error("out of memory for a new connection");
          return accept();
        }
        // Refused at its CONNECT, whose version says how to tell the client.
        if (refusal != mqtt::reason_code::success) connection->refuse_at_connect(refusal);
        ctx_.add(connection);
        connection->start();
        accept();
      });
}

}  // namespace convoy::runtime
