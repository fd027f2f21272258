#include "runtime/rules/webhook_client.hpp"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

namespace convoy::runtime {

namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;

webhook_io::webhook_io()
    : work_(boost::asio::make_work_guard(io_)), thread_([this] { io_.run(); }) {}

webhook_io::~webhook_io() {
  work_.reset();
  io_.stop();
  if (thread_.joinable()) thread_.join();
}

webhook_client::webhook_client(std::shared_ptr<webhook_io> io, endpoint_ptr to)
    : io_(std::move(io)), endpoint_(std::move(to)) {}

void webhook_client::retarget(endpoint_ptr to) {
  endpoint_.store(std::move(to));
}

webhook_client::endpoint_ptr webhook_client::prepare(const webhook_spec& spec) {
  const std::string& url = spec.url;
  endpoint e;
  e.timeout = std::chrono::milliseconds(spec.timeout_ms);
  std::string_view rest = url;
  bool tls = false;
  if (rest.starts_with("https://")) {
    tls = true;
    rest.remove_prefix(8);
  } else if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else {
    throw webhook_url_error("'" + url + "' is not an http:// or https:// URL");
  }
  auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  e.target = slash == std::string_view::npos ? "/" : std::string{rest.substr(slash)};
  auto colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(']') == std::string_view::npos) {
    e.host = std::string{authority.substr(0, colon)};
    e.port = std::string{authority.substr(colon + 1)};
  } else {
    e.host = std::string{authority};
    e.port = tls ? "443" : "80";
  }
  if (e.host.empty() || e.port.empty() ||
      e.port.find_first_not_of("0123456789") != std::string::npos)
    throw webhook_url_error("'" + url + "' has no usable host and port");
  if (tls) {
    e.tls = std::make_shared<ssl::context>(ssl::context::tls_client);
    e.tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    e.tls->set_verify_mode(ssl::verify_peer);
    boost::system::error_code ec;
    if (spec.ca_file.empty())
      e.tls->set_default_verify_paths(ec);
    else
      e.tls->load_verify_file(spec.ca_file, ec);
    if (ec)
      throw webhook_url_error((spec.ca_file.empty() ? std::string{"the system's trusted CAs"}
                                                    : "ca_file " + spec.ca_file) +
                              " cannot be read: " + ec.message());
  } else if (!spec.ca_file.empty()) {
    throw webhook_url_error("ca_file is for https:// URLs, not '" + url + "'");
  }
  return std::make_shared<const endpoint>(std::move(e));
}

namespace {

// One POST: resolve, connect, (TLS handshake,) write, read, close; `done`
// once, with the outcome.
template <class Stream>
struct exchange : std::enable_shared_from_this<exchange<Stream>> {
  tcp::resolver resolver;
  Stream stream;
  std::shared_ptr<const webhook_client::endpoint> to;
  http::request<http::string_body> request;
  http::response<http::string_body> response;
  beast::flat_buffer buffer;
  std::function<void(bool, std::string)> done;

  template <class... Args>
  exchange(boost::asio::io_context& io, std::shared_ptr<const webhook_client::endpoint> e,
           Args&&... stream_args)
      : resolver(io), stream(io, std::forward<Args>(stream_args)...), to(std::move(e)) {}

  static constexpr bool tls = !std::is_same_v<Stream, beast::tcp_stream>;

  void fail(const std::string& what, beast::error_code ec) {
    if (done) done(false, what + ": " + ec.message());
    done = nullptr;
  }

  void start() {
    auto self = this->shared_from_this();
    resolver.async_resolve(
        to->host, to->port, [self](beast::error_code ec, tcp::resolver::results_type r) {
          if (ec) return self->fail("resolve", ec);
          beast::get_lowest_layer(self->stream).expires_after(self->to->timeout);
          beast::get_lowest_layer(self->stream)
              .async_connect(r, [self](beast::error_code ec, const tcp::endpoint&) {
                if (ec) return self->fail("connect", ec);
                if constexpr (tls)
                  self->handshake();
                else
                  self->write();
              });
        });
  }

  // The server's certificate must chain to the trusted CAs and name the
  // URL's host (SNI tells it which one).
  void handshake() requires tls {
    SSL* ssl = stream.native_handle();
    boost::system::error_code ec;
    boost::asio::ip::make_address(to->host, ec);  // an IP address, or a name?
    if (ec) {
      SSL_set_tlsext_host_name(ssl, to->host.c_str());
      SSL_set1_host(ssl, to->host.c_str());
    } else {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), to->host.c_str());
    }
    auto self = this->shared_from_this();
    stream.async_handshake(ssl::stream_base::client, [self](beast::error_code ec) {
      if (ec) {
        long verify = SSL_get_verify_result(self->stream.native_handle());
        return self->fail(verify == X509_V_OK ? std::string{"TLS handshake"}
                                              : std::string{"TLS handshake ("} +
                                                    X509_verify_cert_error_string(verify) + ")",
                          ec);
      }
      self->write();
    });
  }

  void write() {
    auto self = this->shared_from_this();
    http::async_write(stream, request, [self](beast::error_code ec, std::size_t) {
      if (ec) return self->fail("write", ec);
      http::async_read(
          self->stream, self->buffer, self->response, [self](beast::error_code ec, std::size_t) {
            if (ec) return self->fail("read", ec);
            auto status = self->response.result_int();
            if (self->done)
              self->done(status >= 200 && status < 300, "HTTP " + std::to_string(status));
            self->done = nullptr;
            self->finish();
          });
    });
  }

  void finish() {
    if constexpr (tls) {
      // close_notify, without waiting long for the server's own.
      beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(1));
      stream.async_shutdown([self = this->shared_from_this()](beast::error_code) {});
    } else {
      beast::error_code ignored;
      stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    }
  }
};

template <class Exchange>
void fill(Exchange& x, std::string body) {
  x.request = {http::verb::post, x.to->target, 11};
  x.request.set(http::field::host, x.to->host + ":" + x.to->port);
  x.request.set(http::field::content_type, "application/json");
  x.request.set(http::field::user_agent, "convoy-webhook");
  x.request.body() = std::move(body);
  x.request.prepare_payload();
}

}  // namespace

void webhook_client::post(std::string body, std::function<void(bool, std::string)> done) {
  auto e = endpoint_.load();
  auto& io = io_->context();
  if (e->tls) {
    auto x = std::make_shared<exchange<beast::ssl_stream<beast::tcp_stream>>>(io, e, *e->tls);
    fill(*x, std::move(body));
    x->done = std::move(done);
    boost::asio::post(io, [x] { x->start(); });
  } else {
    auto x = std::make_shared<exchange<beast::tcp_stream>>(io, e);
    fill(*x, std::move(body));
    x->done = std::move(done);
    boost::asio::post(io, [x] { x->start(); });
  }
}

}  // namespace convoy::runtime
