#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace convoy::runtime {

using http_request = boost::beast::http::request<boost::beast::http::string_body>;
using http_response = boost::beast::http::response<boost::beast::http::string_body>;

// A response that goes on: server-sent events (text/event-stream). Bytes
// given to send() go to the client in order, from any thread, until
// close() or until the client goes away or falls too far behind
// (http_limits::max_stream_backlog_bytes); then send() returns false.
class http_event_stream {
 public:
  virtual ~http_event_stream() = default;
  virtual bool send(std::string bytes) = 0;
  virtual void close() = 0;
  virtual bool open() const = 0;
};

// Answers one request, once, from any thread: the response goes back to the
// connection's I/O thread. Dropping it unanswered answers 500.
class http_responder {
 public:
  struct state;
  explicit http_responder(std::shared_ptr<state> s) : state_(std::move(s)) {}
  void operator()(http_response response) const;
  // Answers with `header` (its body ignored) and then a stream of bytes;
  // the connection ends with the stream.
  std::shared_ptr<http_event_stream> stream(http_response header) const;

 private:
  std::shared_ptr<state> state_;
};

// What the handler learns of a request besides the request itself.
struct http_peer {
  std::string address;  // "127.0.0.1:54321"
};

using http_handler = std::function<void(http_request&&, const http_peer&, http_responder)>;

struct http_limits {
  std::size_t max_body_bytes = 1'048'576;
  std::size_t max_header_bytes = 16 * 1024;
  std::uint32_t max_connections = 256;
  std::uint32_t idle_timeout_ms = 30'000;          // between requests, and to read one
  std::size_t max_stream_backlog_bytes = 1 << 20;  // unsent event bytes before a stream ends
};

// HTTP/1.1 with Beast: keep-alive, one request at a time per connection,
// bounded request size and connection count. Requests it cannot read are
// answered here (400, 413, 431, 503) with a JSON error, so the handler sees
// only whole, well-formed requests.
class http_server {
 public:
  http_server(boost::asio::io_context& io, http_handler handler, http_limits limits);
  ~http_server();

  // Binds and listens; throws boost::system::system_error when it cannot.
  void listen(const std::string& address, std::uint16_t port);
  std::uint16_t port() const;
  void stop();

  // {"status": 400, "error": "Bad Request", "message": "..."} with that status.
  static http_response json_error(unsigned status, std::string_view message, unsigned version = 11,
                                  bool keep_alive = false);

 private:
  class connection;
  void accept();

  boost::asio::io_context& io_;
  // Shared with the connections: one still answering keeps it.
  std::shared_ptr<http_handler> handler_;
  http_limits limits_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::shared_ptr<std::atomic<std::uint32_t>> live_;
};

}  // namespace convoy::runtime
