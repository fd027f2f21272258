// The HTTP server's event streams (server-sent events): the header goes
// out without a length, then every chunk in order until the handler
// closes; a client that does not read ends the stream at its bound.

#include <doctest/doctest.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "actors/core/metrics.hpp"
#include "runtime/http/http_server.hpp"

using namespace convoy;
using namespace convoy::runtime;
namespace asio = boost::asio;

namespace {

struct served {
  asio::io_context io;
  http_server server;
  std::thread thread;
  served(http_handler handler, http_limits limits) : server(io, std::move(handler), limits) {
    server.listen("127.0.0.1", 0);
    thread = std::thread([this] { io.run(); });
  }
  ~served() {
    asio::post(io, [this] { server.stop(); });
    io.stop();
    thread.join();
  }
};

asio::ip::tcp::socket request(asio::io_context& io, std::uint16_t port) {
  asio::ip::tcp::socket s(io);
  s.connect({asio::ip::make_address("127.0.0.1"), port});
  asio::write(s, asio::buffer(std::string{"GET /events HTTP/1.1\r\nHost: x\r\n\r\n"}));
  return s;
}

std::string read_to_end(asio::ip::tcp::socket& s) {
  std::string out;
  boost::system::error_code ec;
  asio::read(s, asio::dynamic_buffer(out), ec);
  CHECK(ec == asio::error::eof);
  return out;
}

http_response event_header() {
  http_response h{boost::beast::http::status::ok, 11};
  h.set(boost::beast::http::field::content_type, "text/event-stream");
  return h;
}

}  // namespace

TEST_CASE("http event stream: header, chunks in order, then the end") {
  std::promise<void> finished;  // the writer let go of the stream
  served node(
      [&](http_request&&, const http_peer&, http_responder respond) {
        auto stream = respond.stream(event_header());
        REQUIRE(stream);
        // From another thread, as actors answer.
        std::thread([stream, &finished]() mutable {
          for (int i = 0; i < 3; ++i)
            CHECK(stream->send("id: " + std::to_string(i) + "\ndata: x\n\n"));
          stream->close();
          CHECK_FALSE(stream->send("late"));
          stream.reset();
          finished.set_value();
        }).detach();
      },
      {});
  asio::io_context io;
  auto s = request(io, node.server.port());
  std::string all = read_to_end(s);
  auto body = all.find("\r\n\r\n");
  REQUIRE(body != std::string::npos);
  std::string head = all.substr(0, body);
  CHECK(head.starts_with("HTTP/1.1 200 OK\r\n"));
  CHECK(head.find("Content-Type: text/event-stream") != std::string::npos);
  CHECK(head.find("Connection: close") != std::string::npos);
  CHECK(head.find("Content-Length") == std::string::npos);
  CHECK(all.substr(body + 4) == "id: 0\ndata: x\n\nid: 1\ndata: x\n\nid: 2\ndata: x\n\n");
  finished.get_future().wait();
}

TEST_CASE("http event stream: a client that does not read ends it at the bound, counted") {
  http_limits limits;
  limits.max_stream_backlog_bytes = 64 * 1024;
  std::promise<int> sends_until_refused;
  auto result = sends_until_refused.get_future();
  const auto before = metrics::get(counter::dropped_event_stream_slow);
  served node(
      [&](http_request&&, const http_peer&, http_responder respond) {
        auto stream = respond.stream(event_header());
        std::thread([stream, &sends_until_refused]() mutable {
          const std::string chunk(1024, 'x');
          int sent = 0;
          while (sent < 1'000'000 && stream->send("data: " + chunk + "\n\n"))
            ++sent;
          stream.reset();
          sends_until_refused.set_value(sent);
        }).detach();
      },
      limits);
  asio::io_context io;
  auto s = request(io, node.server.port());  // and never read until the stream has ended
  REQUIRE(result.wait_for(std::chrono::seconds(20)) == std::future_status::ready);
  CHECK(result.get() < 1'000'000);
  CHECK(metrics::get(counter::dropped_event_stream_slow) == before + 1);
  read_to_end(s);  // what was written, then the end
}
