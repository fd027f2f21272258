#include "cluster/etcd_client.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace convoy::cluster {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

namespace {

etcd_client::target parse_endpoint(std::string_view url) {
  if (url.starts_with("http://")) url.remove_prefix(7);
  auto colon = url.rfind(':');
  return {std::string{url.substr(0, colon)}, std::string{url.substr(colon + 1)}};
}

http::request<http::string_body> make_request(const etcd_client::target& t, const std::string& path,
                                              std::string body) {
  http::request<http::string_body> r{http::verb::post, path, 11};
  r.set(http::field::host, t.host + ":" + t.port);
  r.set(http::field::content_type, "application/json");
  r.set(http::field::user_agent, "convoy");
  r.body() = std::move(body);
  r.prepare_payload();
  return r;
}

// What every call has: its endpoint, its connection and its request.
struct call_base {
  tcp::resolver resolver;
  beast::tcp_stream connection;
  etcd_client::target to;
  std::chrono::milliseconds timeout;
  http::request<http::string_body> request;
  beast::flat_buffer buffer;
  std::function<void()> on_unreachable;

  call_base(boost::asio::io_context& io, etcd_client::target t, std::chrono::milliseconds d)
      : resolver(io), connection(io), to(std::move(t)), timeout(d) {}

  std::string failure(const char* what, beast::error_code ec) const {
    return std::string{what} + " " + to.host + ":" + to.port + ": " + ec.message();
  }
};

// Resolves and connects within the call's timeout, then self->write();
// self->fail(what, ec, true) when the endpoint cannot be reached.
template <class Call>
void dial(std::shared_ptr<Call> self) {
  self->resolver.async_resolve(
      self->to.host, self->to.port, [self](beast::error_code ec, tcp::resolver::results_type r) {
        if (ec) return self->fail("resolve", ec, true);
        self->connection.expires_after(self->timeout);
        self->connection.async_connect(r, [self](beast::error_code ec, const tcp::endpoint&) {
          if (ec) return self->fail("connect", ec, true);
          self->write();
        });
      });
}

// One unary call: resolve, connect, write, read, close.
struct unary_call : call_base, std::enable_shared_from_this<unary_call> {
  http::response<http::string_body> response;
  etcd_client::reply done;

  using call_base::call_base;

  void fail(const char* what, beast::error_code ec, bool unreachable = true) {
    if (unreachable && on_unreachable) on_unreachable();
    done(failure(what, ec), {});
  }

  void write() {
    auto self = shared_from_this();
    http::async_write(connection, request, [self](beast::error_code ec, std::size_t) {
      if (ec) return self->fail("write to", ec);
      http::async_read(self->connection, self->buffer, self->response,
                       [self](beast::error_code ec, std::size_t) {
                         if (ec) return self->fail("read from", ec);
                         beast::error_code ignored;
                         self->connection.socket().shutdown(tcp::socket::shutdown_both, ignored);
                         self->done(std::nullopt, std::move(self->response.body()));
                       });
    });
  }
};

// A watch: the request, then a chunked response of newline-separated JSON
// messages for as long as the watch lives.
struct watch_call : call_base, etcd_client::stream, std::enable_shared_from_this<watch_call> {
  http::response_parser<http::string_body> parser;
  std::string pending;  // a message not yet ended by its newline
  std::function<void(std::string_view)> on_message;
  std::function<void(std::string)> on_end;
  bool ended = false;

  watch_call(boost::asio::io_context& io, etcd_client::target t, std::chrono::milliseconds d)
      : call_base(io, std::move(t), d) {
    parser.body_limit(boost::none);
    parser.on_chunk_body(on_chunk);
  }

  // The parser keeps a reference: a member, alive as long as it.
  std::function<std::size_t(std::uint64_t, beast::string_view, beast::error_code&)> on_chunk =
      [this](std::uint64_t, beast::string_view data, beast::error_code&) {
        take(std::string_view{data.data(), data.size()});
        return data.size();
      };

  void cancel() override {
    boost::asio::post(connection.get_executor(),
                      [self = shared_from_this()] { self->end("cancelled"); });
  }

  void end(std::string why) {
    if (ended) return;
    ended = true;
    beast::error_code ignored;
    connection.socket().shutdown(tcp::socket::shutdown_both, ignored);
    connection.socket().close(ignored);
    on_end(std::move(why));
    on_message = nullptr;
    on_end = nullptr;
  }

  void fail(const char* what, beast::error_code ec, bool unreachable) {
    if (unreachable && on_unreachable) on_unreachable();
    end(failure(what, ec));
  }

  void take(std::string_view data) {
    pending.append(data);
    std::size_t from = 0;
    for (auto nl = pending.find('\n'); nl != std::string::npos; nl = pending.find('\n', from)) {
      std::string_view line{pending.data() + from, nl - from};
      from = nl + 1;
      if (!line.empty() && on_message && !ended) on_message(line);
    }
    pending.erase(0, from);
  }

  void write() {
    auto self = shared_from_this();
    http::async_write(connection, request, [self](beast::error_code ec, std::size_t) {
      if (ec) return self->fail("write to", ec, true);
      http::async_read_header(self->connection, self->buffer, self->parser,
                              [self](beast::error_code ec, std::size_t) {
                                if (ec) return self->fail("read from", ec, true);
                                if (self->parser.get().result() != http::status::ok)
                                  return self->end("watch refused: HTTP " +
                                                   std::to_string(self->parser.get().result_int()));
                                // A watch is quiet while nothing changes.
                                self->connection.expires_never();
                                self->read();
                              });
    });
  }

  void read() {
    if (ended) return;
    auto self = shared_from_this();
    http::async_read_some(connection, buffer, parser, [self](beast::error_code ec, std::size_t) {
      if (self->ended) return;
      if (ec) return self->fail("watch on", ec, false);
      if (self->parser.is_done()) {
        // Not chunked: the body held the messages.
        self->take(std::string_view{self->parser.get().body()});
        self->take("\n");
        return self->end("etcd ended the watch");
      }
      self->read();
    });
  }
};

}  // namespace

etcd_client::etcd_client(boost::asio::io_context& io, std::vector<std::string> endpoints,
                         std::chrono::milliseconds timeout)
    : io_(io), timeout_(timeout) {
  for (const auto& e : endpoints)
    targets_.push_back(parse_endpoint(e));
  if (targets_.empty()) targets_.push_back({"127.0.0.1", "2379"});
}

std::string etcd_client::endpoint() const {
  return current().host + ":" + current().port;
}

void etcd_client::failed_on(std::size_t index) {
  // Only the first failure on an endpoint moves on: calls that were
  // already in flight to it must not skip the next one as well.
  if (index == next_) ++next_;
}

void etcd_client::post(std::string path, std::string body, reply done) {
  auto c = std::make_shared<unary_call>(io_, current(), timeout_);
  c->request = make_request(c->to, path, std::move(body));
  c->done = std::move(done);
  c->on_unreachable = [this, index = next_] { failed_on(index); };
  boost::asio::post(io_, [c] { dial(c); });
}

std::shared_ptr<etcd_client::stream> etcd_client::watch(
    std::string body, std::function<void(std::string_view)> on_message,
    std::function<void(std::string)> on_end) {
  auto w = std::make_shared<watch_call>(io_, current(), timeout_);
  w->request = make_request(w->to, "/v3/watch", std::move(body));
  w->on_message = std::move(on_message);
  w->on_end = std::move(on_end);
  w->on_unreachable = [this, index = next_] { failed_on(index); };
  boost::asio::post(io_, [w] { dial(w); });
  return w;
}

}  // namespace convoy::cluster
