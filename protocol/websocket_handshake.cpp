#include "protocol/websocket_handshake.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/rfc7230.hpp>

namespace convoy::websocket {

namespace http = boost::beast::http;

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

bool has_token(std::string_view list, std::string_view token) {
  for (auto t : http::token_list{boost::beast::string_view{list.data(), list.size()}})
    if (iequals(std::string_view{t.data(), t.size()}, token)) return true;
  return false;
}

// A Sec-WebSocket-Key is 16 random bytes in base64: 24 characters, "==" last.
bool valid_key(std::string_view key) {
  if (key.size() != 24 || key.substr(22) != "==") return false;
  return std::all_of(key.begin(), key.begin() + 22, [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/';
  });
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return std::string{s};
}

const char* status_text(unsigned status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 426:
      return "Upgrade Required";
    case 431:
      return "Request Header Fields Too Large";
    default:
      return "Error";
  }
}

upgrade_outcome refuse(unsigned status, std::string reason, std::size_t consumed,
                       std::string_view extra_headers = {}) {
  upgrade_outcome out;
  out.result = upgrade_outcome::verdict::refused;
  out.status = status;
  out.consumed = consumed;
  std::string body = reason + "\n";
  out.response = "HTTP/1.1 " + std::to_string(status) + " " + status_text(status) +
                 "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
                 "\r\nConnection: close\r\n" + std::string{extra_headers} + "\r\n" + body;
  out.reason = std::move(reason);
  return out;
}

}  // namespace

std::string accept_key(std::string_view client_key) {
  static constexpr std::string_view guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  std::string input{client_key};
  input += guid;
  std::array<unsigned char, SHA_DIGEST_LENGTH> digest;
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest.data());
  std::array<unsigned char, 4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1> encoded;
  int n = EVP_EncodeBlock(encoded.data(), digest.data(), SHA_DIGEST_LENGTH);
  return std::string(reinterpret_cast<const char*>(encoded.data()), static_cast<std::size_t>(n));
}

upgrade_outcome read_upgrade(std::span<const std::uint8_t> input, const upgrade_rules& rules) {
  http::request_parser<http::empty_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(max_upgrade_request_size));
  parser.eager(true);
  boost::system::error_code ec;
  std::size_t used = parser.put(boost::asio::buffer(input.data(), input.size()), ec);
  if (ec == http::error::need_more) {
    if (input.size() >= max_upgrade_request_size)
      return refuse(431, "the upgrade request is larger than 8192 bytes", input.size());
    return {};
  }
  if (ec == http::error::header_limit)
    return refuse(431, "the upgrade request is larger than 8192 bytes", input.size());
  if (ec == http::error::unexpected_body)
    return refuse(400, "an upgrade request has no body", input.size());
  if (ec) return refuse(400, "not an HTTP request: " + ec.message(), input.size());
  if (!parser.is_done()) return refuse(400, "an upgrade request has no body", input.size());

  const auto& req = parser.get();
  if (req.method() != http::verb::get)
    return refuse(405, "WebSocket upgrades use GET", used, "Allow: GET\r\n");
  if (req.version() < 11) return refuse(400, "WebSocket needs HTTP/1.1", used);
  std::string_view target{req.target().data(), req.target().size()};
  std::string_view path = target.substr(0, target.find('?'));
  if (path != rules.path) return refuse(404, "no WebSocket endpoint at " + std::string{path}, used);
  if (!has_token({req[http::field::upgrade].data(), req[http::field::upgrade].size()}, "websocket"))
    return refuse(426, "this endpoint speaks MQTT over WebSocket only (Upgrade: websocket)", used,
                  "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n");
  if (!has_token({req[http::field::connection].data(), req[http::field::connection].size()},
                 "upgrade"))
    return refuse(400, "Connection: Upgrade is missing", used);
  if (req[http::field::sec_websocket_version] != "13")
    return refuse(426, "only WebSocket version 13 is supported", used,
                  "Sec-WebSocket-Version: 13\r\n");
  std::string_view key{req[http::field::sec_websocket_key].data(),
                       req[http::field::sec_websocket_key].size()};
  if (!valid_key(key)) return refuse(400, "Sec-WebSocket-Key is missing or malformed", used);
  if (!rules.allowed_origins.empty()) {
    auto origin = req.find(http::field::origin);
    if (origin != req.end()) {
      std::string_view value{origin->value().data(), origin->value().size()};
      if (std::find(rules.allowed_origins.begin(), rules.allowed_origins.end(), value) ==
          rules.allowed_origins.end())
        return refuse(403, "origin " + std::string{value} + " is not allowed", used);
    }
  }

  // MQTT 5.0 6.0: the client offers "mqtt"; clients of MQTT 3.1 days offer
  // "mqttv3.1". A client that offers nothing gets no subprotocol header.
  bool offered_any = false;
  bool offered_mqtt = false;
  bool offered_v31 = false;
  for (auto range = req.equal_range(http::field::sec_websocket_protocol);
       range.first != range.second; ++range.first) {
    std::string_view list{range.first->value().data(), range.first->value().size()};
    std::size_t start = 0;
    while (start <= list.size()) {
      std::size_t comma = std::min(list.find(',', start), list.size());
      std::string name = trim(list.substr(start, comma - start));
      if (!name.empty()) offered_any = true;
      if (name == "mqtt") offered_mqtt = true;
      if (name == "mqttv3.1") offered_v31 = true;
      start = comma + 1;
    }
  }
  upgrade_outcome out;
  if (offered_mqtt) {
    out.subprotocol = "mqtt";
  } else if (offered_v31) {
    out.subprotocol = "mqttv3.1";
  } else if (offered_any) {
    return refuse(400, "none of the offered subprotocols is mqtt", used);
  }
  out.result = upgrade_outcome::verdict::accepted;
  out.status = 101;
  out.consumed = used;
  out.response =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: " +
      accept_key(key) + "\r\n";
  if (!out.subprotocol.empty())
    out.response += "Sec-WebSocket-Protocol: " + out.subprotocol + "\r\n";
  out.response += "\r\n";
  return out;
}

}  // namespace convoy::websocket
