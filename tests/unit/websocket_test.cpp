// WebSocket framing and opening handshake (protocol/websocket_*): client
// frames cut anywhere read back as the payload stream, every framing rule a
// server enforces has its error, and the handshake answers 101 only to a
// proper MQTT upgrade. Also replays the websocket fuzz corpus.

#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>

#include "protocol/websocket_frame.hpp"
#include "protocol/websocket_handshake.hpp"
#include "tests/fuzz/websocket_check.hpp"

using namespace convoy::websocket;

namespace {

using bytes = std::vector<std::uint8_t>;

bytes of(std::string_view s) {
  return bytes(s.begin(), s.end());
}

constexpr std::array<std::uint8_t, 4> mask = {0x12, 0x34, 0x56, 0x78};

// Feeds input in chunks of the given size; the payload bytes and controls read.
struct reading {
  bytes data;
  std::vector<control_frame> controls;
  std::optional<frame_error> error;
};

reading read_chunked(const bytes& input, std::size_t chunk) {
  reading out;
  frame_reader reader;
  for (std::size_t at = 0; at < input.size() && !out.error; at += chunk) {
    bytes buffer(input.begin() + static_cast<std::ptrdiff_t>(at),
                 input.begin() + static_cast<std::ptrdiff_t>(std::min(input.size(), at + chunk)));
    auto r = reader.feed(buffer);
    REQUIRE(r.data <= buffer.size());
    out.data.insert(out.data.end(), buffer.begin(),
                    buffer.begin() + static_cast<std::ptrdiff_t>(r.data));
    for (auto& c : r.controls)
      out.controls.push_back(std::move(c));
    out.error = r.error;
  }
  return out;
}

std::string request(std::string_view extra = "Sec-WebSocket-Protocol: mqtt\r\n",
                    std::string_view path = "/mqtt") {
  return "GET " + std::string{path} +
         " HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: keep-alive, "
         "Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: "
         "13\r\n" +
         std::string{extra} + "\r\n";
}

upgrade_outcome upgrade(const std::string& text, const upgrade_rules& rules = {}) {
  bytes b = of(text);
  return read_upgrade(b, rules);
}

}  // namespace

TEST_CASE("websocket: frames of every length class read back cut at any byte") {
  std::mt19937 rng(7);
  for (std::size_t size : {0, 1, 125, 126, 127, 65535, 65536, 70000}) {
    bytes payload(size);
    for (auto& b : payload)
      b = static_cast<std::uint8_t>(rng());
    // Split into a fragmented message and followed by a second message.
    std::size_t half = size / 2;
    bytes input = encode_client_frame(opcode::binary, {payload.data(), half}, mask, false);
    auto rest = encode_client_frame(opcode::continuation, {payload.data() + half, size - half},
                                    {9, 8, 7, 6});
    input.insert(input.end(), rest.begin(), rest.end());
    auto second = encode_client_frame(opcode::binary, of("tail"), mask);
    input.insert(input.end(), second.begin(), second.end());
    bytes expected = payload;
    expected.insert(expected.end(), {'t', 'a', 'i', 'l'});
    for (std::size_t chunk : {std::size_t{1}, std::size_t{3}, std::size_t{1000}, input.size()}) {
      CAPTURE(size);
      CAPTURE(chunk);
      auto r = read_chunked(input, chunk);
      CHECK_FALSE(r.error);
      CHECK(r.controls.empty());
      CHECK(r.data == expected);
    }
  }
}

TEST_CASE("websocket: control frames between fragments are reported in order") {
  bytes input = encode_client_frame(opcode::binary, of("ab"), mask, false);
  auto ping = encode_client_frame(opcode::ping, of("hello"), mask);
  auto cont = encode_client_frame(opcode::continuation, of("cd"), mask);
  auto close = encode_client_frame(opcode::close, bytes{0x03, 0xE8, 'b', 'y', 'e'}, mask);
  auto after = encode_client_frame(opcode::binary, of("ignored"), mask);
  for (const auto* part : {&ping, &cont, &close, &after})
    input.insert(input.end(), part->begin(), part->end());
  for (std::size_t chunk : {1, 2, 5, 1000}) {
    auto r = read_chunked(input, chunk);
    CHECK_FALSE(r.error);
    CHECK(r.data == of("abcd"));
    REQUIRE(r.controls.size() == 2);
    CHECK(r.controls[0].op == opcode::ping);
    CHECK(r.controls[0].payload == of("hello"));
    CHECK(r.controls[1].op == opcode::close);
    CHECK(r.controls[1].payload == (bytes{0x03, 0xE8, 'b', 'y', 'e'}));
  }
}

TEST_CASE("websocket: frames a server must refuse") {
  auto error_of = [](bytes input) {
    auto r = read_chunked(input, input.size());
    REQUIRE(r.error);
    return r.error->code;
  };
  // Unmasked client frame.
  CHECK(error_of(encode_frame(opcode::binary, of("x"))) == close_code::protocol_error);
  // Text frame: MQTT is binary only (MQTT 5.0 6.0).
  CHECK(error_of(encode_client_frame(opcode::text, of("x"), mask)) == close_code::unsupported_data);
  // Reserved bit without an extension.
  auto rsv = encode_client_frame(opcode::binary, of("x"), mask);
  rsv[0] |= 0x40;
  CHECK(error_of(rsv) == close_code::protocol_error);
  // Unknown opcode.
  auto unknown = encode_client_frame(opcode::binary, of("x"), mask);
  unknown[0] = (unknown[0] & 0xF0) | 0x3;
  CHECK(error_of(unknown) == close_code::protocol_error);
  // Control frames: not fragmented, at most 125 bytes.
  CHECK(error_of(encode_client_frame(opcode::ping, of("x"), mask, false)) ==
        close_code::protocol_error);
  CHECK(error_of(encode_client_frame(opcode::ping, bytes(126, 'x'), mask)) ==
        close_code::protocol_error);
  // Continuation with nothing to continue, and a new message inside one.
  CHECK(error_of(encode_client_frame(opcode::continuation, of("x"), mask)) ==
        close_code::protocol_error);
  auto nested = encode_client_frame(opcode::binary, of("x"), mask, false);
  auto again = encode_client_frame(opcode::binary, of("y"), mask);
  nested.insert(nested.end(), again.begin(), again.end());
  CHECK(error_of(nested) == close_code::protocol_error);
  // Close frame with a 1-byte body.
  CHECK(error_of(encode_client_frame(opcode::close, bytes{3}, mask)) == close_code::protocol_error);
  // Payload bytes before the bad frame still count.
  auto good_then_bad = encode_client_frame(opcode::binary, of("ok"), mask);
  auto bad = encode_client_frame(opcode::text, of("no"), mask);
  good_then_bad.insert(good_then_bad.end(), bad.begin(), bad.end());
  auto r = read_chunked(good_then_bad, good_then_bad.size());
  CHECK(r.error);
  CHECK(r.data == of("ok"));
}

TEST_CASE("websocket: server frame headers") {
  std::array<std::uint8_t, 10> h;
  CHECK(encode_header(opcode::binary, 5, h) == 2);
  CHECK(h[0] == 0x82);
  CHECK(h[1] == 5);
  CHECK(encode_header(opcode::binary, 300, h) == 4);
  CHECK(h[1] == 126);
  CHECK(((h[2] << 8) | h[3]) == 300);
  CHECK(encode_header(opcode::binary, 1u << 20, h) == 10);
  CHECK(h[1] == 127);
  CHECK(h[7] == 0x10);
  auto close = encode_close(close_code::going_away, std::string(200, 'x'));
  CHECK(close.size() == 2 + 125);
  CHECK(close[2] == 0x03);
  CHECK(close[3] == 0xE9);
}

TEST_CASE("websocket: the opening handshake of RFC 6455 and MQTT") {
  CHECK(accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  auto ok = upgrade(request());
  REQUIRE(ok.result == upgrade_outcome::verdict::accepted);
  CHECK(ok.status == 101);
  CHECK(ok.subprotocol == "mqtt");
  CHECK(ok.consumed == request().size());
  CHECK(ok.response.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") !=
        std::string::npos);
  CHECK(ok.response.find("Sec-WebSocket-Protocol: mqtt\r\n") != std::string::npos);
  CHECK(ok.response.ends_with("\r\n\r\n"));

  // Frames right behind the request are not part of it.
  auto pipelined = upgrade(request() + "\x82\x80");
  CHECK(pipelined.consumed == request().size());

  // The subprotocol: mqtt among others, the old mqttv3.1, none, or only others.
  CHECK(upgrade(request("Sec-WebSocket-Protocol: chat, mqtt\r\n")).subprotocol == "mqtt");
  CHECK(upgrade(request("Sec-WebSocket-Protocol: mqttv3.1\r\n")).subprotocol == "mqttv3.1");
  auto none = upgrade(request(""));
  CHECK(none.result == upgrade_outcome::verdict::accepted);
  CHECK(none.response.find("Sec-WebSocket-Protocol") == std::string::npos);
  CHECK(upgrade(request("Sec-WebSocket-Protocol: chat\r\n")).status == 400);

  // A query string does not change the path.
  CHECK(upgrade(request("", "/mqtt?client=1")).status == 101);
}

TEST_CASE("websocket: handshakes refused with a status saying why") {
  CHECK(upgrade(request("", "/other")).status == 404);
  auto post = request();
  post.replace(0, 3, "PUT");
  CHECK(upgrade(post).status == 405);
  auto plain = upgrade("GET /mqtt HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(plain.status == 426);
  CHECK(plain.response.find("Upgrade: websocket") != std::string::npos);
  auto old_version = request();
  old_version.replace(old_version.find("Version: 13"), 11, "Version: 8");
  CHECK(upgrade(old_version).status == 426);
  auto bad_key = request();
  bad_key.replace(bad_key.find("dGhl"), 4, "dGh!");
  CHECK(upgrade(bad_key).status == 400);
  auto no_connection = request();
  no_connection.replace(no_connection.find("keep-alive, Upgrade"), 19, "keep-alive");
  CHECK(upgrade(no_connection).status == 400);
  CHECK(upgrade("\x16\x03\x01 this is TLS, not HTTP\r\n\r\n").status == 400);
  auto body = request("Content-Length: 5\r\n");
  CHECK(upgrade(body + "hello").status == 400);

  upgrade_rules rules;
  rules.allowed_origins = {"https://fleet.example.com"};
  CHECK(upgrade(request("Origin: https://evil.example\r\n"), rules).status == 403);
  CHECK(upgrade(request("Origin: https://fleet.example.com\r\n"), rules).status == 101);
  CHECK(upgrade(request(""), rules).status == 101);  // not a browser

  // Incomplete until the blank line; too large past the bound.
  auto partial = request();
  partial.resize(partial.size() - 2);
  CHECK(upgrade(partial).result == upgrade_outcome::verdict::incomplete);
  auto huge = request("X-Filler: " + std::string(max_upgrade_request_size, 'a') + "\r\n");
  CHECK(upgrade(huge).status == 431);
  CHECK(upgrade(huge.substr(0, max_upgrade_request_size + 10)).status == 431);
}

TEST_CASE("websocket fuzz corpus passes the fuzz target's checks") {
  const std::filesystem::path dir =
      std::filesystem::path(CONVOY_SOURCE_DIR) / "tests" / "fuzz" / "corpus" / "websocket";
  REQUIRE(std::filesystem::is_directory(dir));
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream f(entry.path(), std::ios::binary);
    bytes input(std::istreambuf_iterator<char>(f), {});
    CAPTURE(entry.path().filename().string());
    CHECK(fuzz::check_websocket(input) == "");
    ++files;
  }
  CHECK(files >= 8);
}
