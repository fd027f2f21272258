#include "runtime/http/http_server.hpp"

#include <array>
#include <deque>
#include <optional>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <nlohmann/json.hpp>

#include "actors/core/metrics.hpp"
#include "runtime/edge/listen.hpp"

namespace convoy::runtime {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

struct http_responder::state {
  std::function<void(http_response)> deliver;
  std::function<std::shared_ptr<http_event_stream>(http_response)> start_stream;
  std::atomic<bool> answered{false};
  ~state() {
    if (!answered.exchange(true) && deliver)
      deliver(http_server::json_error(500, "the request was not answered"));
  }
};

void http_responder::operator()(http_response response) const {
  if (state_->answered.exchange(true)) return;
  state_->deliver(std::move(response));
}

std::shared_ptr<http_event_stream> http_responder::stream(http_response header) const {
  if (state_->answered.exchange(true) || !state_->start_stream) return nullptr;
  return state_->start_stream(std::move(header));
}

http_response http_server::json_error(unsigned status, std::string_view message, unsigned version,
                                      bool keep_alive) {
  http_response r{static_cast<http::status>(status), version};
  r.set(http::field::content_type, "application/json");
  auto reason = http::obsolete_reason(static_cast<http::status>(status));
  r.body() = nlohmann::json{
      {"status", status},
      {"error", std::string{reason.data(), reason.size()}},
      {"message",
       message}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  r.keep_alive(keep_alive);
  r.prepare_payload();
  return r;
}

class http_server::connection : public std::enable_shared_from_this<connection> {
  // What an event stream and its connection share.
  struct stream_flags {
    std::atomic<bool> open{true};
    std::atomic<std::size_t> backlog{0};  // bytes given and not yet written
  };

  // The handler's side of an event stream: send() and close() come from
  // any thread and go on to the connection's own. Dropping it closes it.
  class stream_impl : public http_event_stream {
   public:
    stream_impl(std::shared_ptr<connection> c, std::shared_ptr<stream_flags> flags,
                std::size_t max_backlog)
        : connection_(std::move(c)), flags_(std::move(flags)), max_backlog_(max_backlog) {}
    ~stream_impl() override { close(); }
    bool send(std::string bytes) override {
      if (!flags_->open) return false;
      auto n = bytes.size();
      if (flags_->backlog.fetch_add(n) + n > max_backlog_) {
        metrics::add(counter::dropped_event_stream_slow);
        flags_->open = false;
        asio::post(connection_->stream_.get_executor(), [c = connection_] { c->end_stream(); });
        return false;
      }
      asio::post(
          connection_->stream_.get_executor(),
          [c = connection_, b = std::move(bytes)]() mutable { c->stream_write(std::move(b)); });
      return true;
    }
    void close() override {
      if (!flags_->open.exchange(false)) return;
      asio::post(connection_->stream_.get_executor(), [c = connection_] { c->finish_stream(); });
    }
    bool open() const override { return flags_->open; }

   private:
    std::shared_ptr<connection> connection_;
    std::shared_ptr<stream_flags> flags_;
    const std::size_t max_backlog_;
  };

 public:
  connection(asio::ip::tcp::socket socket, std::shared_ptr<http_handler> handler,
             const http_limits& limits, std::shared_ptr<std::atomic<std::uint32_t>> live)
      : stream_(std::move(socket)), handler_(std::move(handler)), limits_(limits), live_(live) {
    boost::system::error_code ec;
    auto endpoint = stream_.socket().remote_endpoint(ec);
    if (!ec) peer_.address = endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
  }
  ~connection() { live_->fetch_sub(1); }

  void start() { read_request(); }

  void refuse_busy() {
    metrics::add(counter::refused_http_busy);
    write(json_error(503, "too many HTTP connections (http.max_connections)"), false, 11);
  }

 private:
  void read_request() {
    parser_.emplace();
    parser_->body_limit(limits_.max_body_bytes);
    parser_->header_limit(static_cast<std::uint32_t>(limits_.max_header_bytes));
    stream_.expires_after(std::chrono::milliseconds(limits_.idle_timeout_ms));
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::connection_reset || ec == asio::error::eof)
      return close();
    if (ec == http::error::body_limit) {
      metrics::add(counter::refused_http_request);
      return write(json_error(413, "the request body is larger than http.max_body_bytes"), false,
                   11);
    }
    if (ec == http::error::header_limit) {
      metrics::add(counter::refused_http_request);
      return write(json_error(431, "the request header is too large"), false, 11);
    }
    if (ec) {
      // Not a parse error (the peer went away, say): nobody to answer.
      if (ec.category() != beast::error_code{http::error::bad_method}.category()) return close();
      metrics::add(counter::refused_http_request);
      return write(json_error(400, "not a valid HTTP request: " + ec.message()), false, 11);
    }
    http_request request = parser_->release();
    bool keep_alive = request.keep_alive();
    unsigned version = request.version();
    // The handler answers when it can; it bounds its own waits.
    stream_.expires_never();
    auto st = std::make_shared<http_responder::state>();
    st->deliver = [self = shared_from_this(), keep_alive, version](http_response r) {
      asio::post(self->stream_.get_executor(),
                 [self, r = std::move(r), keep_alive, version]() mutable {
                   self->write(std::move(r), keep_alive, version);
                 });
    };
    st->start_stream = [self = shared_from_this(), version](http_response header) {
      auto flags = std::make_shared<stream_flags>();
      asio::post(self->stream_.get_executor(),
                 [self, flags, header = std::move(header), version]() mutable {
                   self->begin_stream(std::move(header), version, flags);
                 });
      return std::shared_ptr<http_event_stream>{
          std::make_shared<stream_impl>(self, flags, self->limits_.max_stream_backlog_bytes)};
    };
    try {
      (*handler_)(std::move(request), peer_, http_responder{std::move(st)});
    } catch (const std::exception& e) {
      // A handler that throws is a bug; the client still gets an answer
      // (the responder, if unused, answers 500) and the node lives on.
      spdlog::error("HTTP handler failed for {}: {}", peer_.address, e.what());
    }
  }

  void write(http_response response, bool keep_alive, unsigned version) {
    response.version(version);
    response.keep_alive(keep_alive && response.keep_alive());
    response.set(http::field::server, "convoy");
    response.prepare_payload();
    out_ = std::make_shared<http_response>(std::move(response));
    stream_.expires_after(std::chrono::milliseconds(limits_.idle_timeout_ms));
    http::async_write(stream_, *out_,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        bool again = !ec && self->out_->keep_alive();
                        self->out_.reset();
                        if (!again) return self->close();
                        self->read_request();
                      });
  }

  // An event stream: the header as it is (no Content-Length: the body ends
  // with the connection), then every chunk send() gave, in order, one write
  // at a time; meanwhile a read notices the client leaving.
  void begin_stream(http_response header, unsigned version, std::shared_ptr<stream_flags> flags) {
    // Posted before anything the stream's send() and close() post: those
    // find the stream begun.
    streaming_ = std::move(flags);
    header.set(http::field::server, "convoy");
    header.set(http::field::connection, "close");
    header.set(http::field::cache_control, "no-cache");
    header.erase(http::field::content_length);
    std::string head = version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    head += std::to_string(header.result_int()) + " ";
    auto reason = header.reason();
    head.append(reason.data(), reason.size());
    head += "\r\n";
    for (const auto& field : header) {
      head.append(field.name_string().data(), field.name_string().size());
      head += ": ";
      head.append(field.value().data(), field.value().size());
      head += "\r\n";
    }
    head += "\r\n";
    streaming_->backlog += head.size();
    stream_write(std::move(head));
    watch_stream();
  }

  void watch_stream() {
    stream_.socket().async_read_some(
        asio::buffer(scratch_), [self = shared_from_this()](beast::error_code ec, std::size_t) {
          if (ec) return self->end_stream();
          self->watch_stream();  // a client has nothing to say on a stream: ignored
        });
  }

  void stream_write(std::string bytes) {
    if (!streaming_) return;
    stream_out_.push_back(std::move(bytes));
    if (!stream_writing_) write_stream_front();
  }

  void write_stream_front() {
    if (!streaming_ || stream_out_.empty()) {
      stream_writing_ = false;
      if (stream_finishing_) end_stream();
      return;
    }
    stream_writing_ = true;
    asio::async_write(stream_.socket(), asio::buffer(stream_out_.front()),
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        if (!self->streaming_) return;
                        self->streaming_->backlog -= self->stream_out_.front().size();
                        self->stream_out_.pop_front();
                        if (ec) return self->end_stream();
                        self->write_stream_front();
                      });
  }

  // close(): what is queued goes out first.
  void finish_stream() {
    stream_finishing_ = true;
    if (!stream_writing_) end_stream();
  }

  void end_stream() {
    if (!streaming_) return;
    streaming_->open = false;
    streaming_.reset();
    stream_out_.clear();
    close();
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
    stream_.close();
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<http_handler> handler_;
  const http_limits limits_;
  std::shared_ptr<std::atomic<std::uint32_t>> live_;
  http_peer peer_;
  std::shared_ptr<http_response> out_;
  std::shared_ptr<stream_flags> streaming_;  // while answering with an event stream
  std::deque<std::string> stream_out_;
  bool stream_writing_ = false;
  bool stream_finishing_ = false;
  std::array<char, 256> scratch_{};
};

http_server::http_server(asio::io_context& io, http_handler handler, http_limits limits)
    : io_(io),
      handler_(std::make_shared<http_handler>(std::move(handler))),
      limits_(limits),
      acceptor_(io),
      live_(std::make_shared<std::atomic<std::uint32_t>>(0)) {}

http_server::~http_server() = default;

void http_server::listen(const std::string& address, std::uint16_t port) {
  open_acceptor(acceptor_, address, port);
  accept();
}

std::uint16_t http_server::port() const {
  return acceptor_.local_endpoint().port();
}

void http_server::stop() {
  boost::system::error_code ec;
  acceptor_.close(ec);
}

void http_server::accept() {
  acceptor_.async_accept(io_, [this](boost::system::error_code ec, asio::ip::tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) {
      bool busy = live_->fetch_add(1) >= limits_.max_connections;
      auto c = std::make_shared<connection>(std::move(socket), handler_, limits_, live_);
      if (busy)
        c->refuse_busy();
      else
        c->start();
    }
    accept();
  });
}

}  // namespace convoy::runtime
