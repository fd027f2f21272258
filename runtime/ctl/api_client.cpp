#include "runtime/ctl/api_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

namespace convoy::ctl {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

api_client::api_client(const std::string& base_url, std::string api_key, std::string token,
                       std::chrono::milliseconds timeout)
    : api_key_(std::move(api_key)), token_(std::move(token)), timeout_(timeout) {
  std::string rest = base_url;
  if (rest.starts_with("https://"))
    throw std::invalid_argument(
        "--url: the node serves plain HTTP; use http:// (behind a TLS "
        "proxy for remote nodes)");
  if (rest.starts_with("http://")) rest = rest.substr(7);
  while (!rest.empty() && rest.back() == '/')
    rest.pop_back();
  if (rest.find('/') != std::string::npos)
    throw std::invalid_argument("--url: give http://host:port, without a path");
  auto colon = rest.rfind(':');
  host_ = colon == std::string::npos ? rest : rest.substr(0, colon);
  port_ = colon == std::string::npos ? "8080" : rest.substr(colon + 1);
  if (host_.empty() || port_.empty() || port_.find_first_not_of("0123456789") != std::string::npos)
    throw std::invalid_argument("--url: expected http://host:port, got " + base_url);
}

api_response api_client::call(const std::string& method, const std::string& target,
                              const std::string& json_body) const {
  asio::io_context io;
  beast::tcp_stream stream(io);
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, host_ + ":" + port_);
  req.set(http::field::user_agent, "convoy-ctl");
  if (!api_key_.empty()) req.set("X-API-Key", api_key_);
  if (!token_.empty()) req.set(http::field::authorization, "Bearer " + token_);
  if (!json_body.empty()) {
    req.set(http::field::content_type, "application/json");
    req.body() = json_body;
  }
  req.prepare_payload();
  http::response<http::string_body> res;
  beast::flat_buffer buffer;
  beast::error_code failure;
  std::string stage = "connect";
  asio::ip::tcp::resolver resolver(io);
  resolver.async_resolve(host_, port_, [&](beast::error_code ec, auto endpoints) {
    if (ec) {
      failure = ec;
      stage = "resolve";
      return;
    }
    stream.expires_after(timeout_);
    stream.async_connect(endpoints, [&](beast::error_code ec, auto) {
      if (ec) {
        failure = ec;
        return;
      }
      stage = "send";
      http::async_write(stream, req, [&](beast::error_code ec, std::size_t) {
        if (ec) {
          failure = ec;
          return;
        }
        stage = "read the answer";
        http::async_read(stream, buffer, res,
                         [&](beast::error_code ec, std::size_t) { failure = ec; });
      });
    });
  });
  io.run();
  if (failure)
    throw connection_error("cannot " + stage + " " + host_ + ":" + port_ + ": " +
                           failure.message());
  beast::error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  api_response out;
  out.status = res.result_int();
  out.content_type = std::string{res[http::field::content_type]};
  out.body = std::move(res.body());
  return out;
}

}  // namespace convoy::ctl
