#include "runtime/webhook_client.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace convoy::runtime {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

webhook_io::webhook_io()
    : work_(boost::asio::make_work_guard(io_)), thread_([this] { io_.run(); }) {}

webhook_io::~webhook_io() {
  work_.reset();
  io_.stop();
  if (thread_.joinable()) thread_.join();
}

webhook_client::webhook_client(std::shared_ptr<webhook_io> io, const std::string& url,
                               std::chrono::milliseconds timeout)
    : io_(std::move(io)), endpoint_(parse(url, timeout)) {}

void webhook_client::retarget(const std::string& url, std::chrono::milliseconds timeout) {
  endpoint_.store(parse(url, timeout));
}

std::shared_ptr<const webhook_client::endpoint> webhook_client::parse(
    const std::string& url, std::chrono::milliseconds timeout) {
  endpoint e;
  e.timeout = timeout;
  constexpr std::string_view scheme = "http://";
  std::string_view rest = url;
  if (!rest.starts_with(scheme))
    throw webhook_url_error("'" + url +
                            "' is not an http:// URL (https: put a TLS proxy in front)");
  rest.remove_prefix(scheme.size());
  auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  e.target = slash == std::string_view::npos ? "/" : std::string{rest.substr(slash)};
  auto colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(']') == std::string_view::npos) {
    e.host = std::string{authority.substr(0, colon)};
    e.port = std::string{authority.substr(colon + 1)};
  } else {
    e.host = std::string{authority};
    e.port = "80";
  }
  if (e.host.empty() || e.port.empty() ||
      e.port.find_first_not_of("0123456789") != std::string::npos)
    throw webhook_url_error("'" + url + "' has no usable host and port");
  return std::make_shared<const endpoint>(std::move(e));
}

namespace {

// One POST: resolve, connect, write, read, close; `done` once, with the
// outcome.
struct exchange : std::enable_shared_from_this<exchange> {
  tcp::resolver resolver;
  beast::tcp_stream stream;
  http::request<http::string_body> request;
  http::response<http::string_body> response;
  beast::flat_buffer buffer;
  std::chrono::milliseconds timeout;
  std::function<void(bool, std::string)> done;

  exchange(boost::asio::io_context& io, std::chrono::milliseconds t)
      : resolver(io), stream(io), timeout(t) {}

  void fail(const char* what, beast::error_code ec) {
    if (done) done(false, std::string{what} + ": " + ec.message());
    done = nullptr;
  }

  void start(const std::string& host, const std::string& port) {
    auto self = shared_from_this();
    resolver.async_resolve(host, port, [self](beast::error_code ec, tcp::resolver::results_type r) {
      if (ec) return self->fail("resolve", ec);
      self->stream.expires_after(self->timeout);
      self->stream.async_connect(r, [self](beast::error_code ec, const tcp::endpoint&) {
        if (ec) return self->fail("connect", ec);
        http::async_write(self->stream, self->request, [self](beast::error_code ec, std::size_t) {
          if (ec) return self->fail("write", ec);
          http::async_read(self->stream, self->buffer, self->response,
                           [self](beast::error_code ec, std::size_t) {
                             if (ec) return self->fail("read", ec);
                             beast::error_code ignored;
                             self->stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
                             auto status = self->response.result_int();
                             if (self->done)
                               self->done(status >= 200 && status < 300,
                                          "HTTP " + std::to_string(status));
                             self->done = nullptr;
                           });
        });
      });
    });
  }
};

}  // namespace

void webhook_client::post(std::string body, std::function<void(bool, std::string)> done) {
  auto e = endpoint_.load();
  auto x = std::make_shared<exchange>(io_->context(), e->timeout);
  x->request = {http::verb::post, e->target, 11};
  x->request.set(http::field::host, e->host + ":" + e->port);
  x->request.set(http::field::content_type, "application/json");
  x->request.set(http::field::user_agent, "convoy-webhook");
  x->request.body() = std::move(body);
  x->request.prepare_payload();
  x->done = std::move(done);
  boost::asio::post(io_->context(), [x, e] { x->start(e->host, e->port); });
}

}  // namespace convoy::runtime
