#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <caf/send.hpp>
#include "actors/core/messages.hpp"

#include "actors/core/session_sink.hpp"
#include "protocol/decoder.hpp"
#include "protocol/websocket_frame.hpp"
#include "protocol/websocket_handshake.hpp"
#include "runtime/auth/authenticator.hpp"
#include "runtime/edge/edge_context.hpp"
#include "runtime/edge/tls_context.hpp"
#include "runtime/edge/tls_stream.hpp"

namespace convoy::runtime {

// One MQTT client over TCP, or over TLS when made with a TLS context, and
// over WebSocket (ws, or wss with TLS) when made with upgrade rules. Decodes packets straight from
// the bytes it reads and hands them to the client's session actor; writes what the session sends
// with gather writes, one write in flight, coalescing everything queued meanwhile. Holds no read
// buffer while idle: it waits for readability, reads into a per-thread buffer and keeps only the
// bytes of an unfinished packet.
class mqtt_connection final : public session_sink,
                              public std::enable_shared_from_this<mqtt_connection> {
 public:
  using socket_type = boost::asio::ip::tcp::socket;

  // With a TLS context the connection starts with a TLS handshake, and
  // every read and write goes through its TLS session. With upgrade rules
  // it then expects a WebSocket opening handshake, and MQTT travels in the
  // payloads of WebSocket binary frames.
  mqtt_connection(socket_type socket, edge_context& ctx, ssl_context_ptr tls = nullptr,
                  const websocket::upgrade_rules* websocket = nullptr);
  ~mqtt_connection() override;

  void start();

  // The CONNECT that arrives will be refused with reason (a limit of the
  // node was reached when the connection was accepted).
  void refuse_at_connect(mqtt::reason_code reason) { refusal_ = reason; }

  // Closes with an MQTT 5 DISCONNECT carrying reason (node shutdown).
  void shut_down(mqtt::reason_code reason);

  // Called about every quarter second from the edge's sweep, on any thread:
  // a client silent for longer than it may be (no CONNECT within the connect
  // timeout, nothing within 1.5 times its keep alive) is closed. One sweep
  // per node instead of a timer per connection saves the timer's memory and
  // a timer operation per keep-alive period on every idle connection.
  void check_silence(std::int64_t now_ms);

  // After the client CAs or CRL changed: a TLS client whose certificate
  // no longer verifies under `ctx` is disconnected (MQTT 5: Not
  // authorized). Any thread.
  void recheck_certificate(SSL_CTX* ctx);

  // session_sink, called from actor threads.
  write_result write(std::vector<outbound_frame> frames) override;
  void bind(caf::actor session, std::uint16_t keep_alive) override;
  void consumed(std::uint32_t packets) override;
  void close() override;
  void refuse(mqtt::reason_code reason, std::string why,
              std::string server_reference = {}) override;
  std::string peer() const override;  // "address:port", for logs
  const char* transport() const override;

 private:
  enum class phase : std::uint8_t {
    awaiting_connect,  // accepted, CONNECT not yet received
    connecting,        // CONNECT handed to the registry, reading paused
    bound,             // session attached, packets flow
    closing,           // no more reading; writes drain, then the socket closes
    closed,
  };

  void wait_readable();
  void continue_handshake();
  void on_handshake_failed();
  // Reads what the socket (or the TLS session) has into buffer; 0 bytes
  // with would_block means wait, other errors mean the client is gone.
  std::size_t read_some(std::span<std::uint8_t> buffer, boost::system::error_code& ec);
  void write_tls();
  void on_written(boost::system::error_code ec, std::size_t n);
  // Who a verified client certificate names, when there is one.
  std::optional<client_principal> certificate_principal_of_peer(std::string& why) const;
  void read_more_or_pause();
  // Packets carry the connection's id: after a takeover, packets of the old
  // connection still in the session's mailbox are told from the new one's.
  template <class Packet>
  void to_session(Packet&& p) {
    unprocessed_.fetch_add(1);
    caf::anon_send(session_, id(), std::forward<Packet>(p));
  }
  void on_readable();
  // The WebSocket opening handshake from the bytes read so far; true once
  // accepted, with the bytes after it (frames) at the front of the read buffer.
  bool upgrade_websocket(std::span<std::uint8_t>& fresh);
  // Ping, pong and close frames and frame errors, after the data before them.
  void on_websocket_events(std::vector<websocket::control_frame>& controls,
                           const std::optional<websocket::frame_error>& error);
  // Bytes that go out as they are: HTTP responses and WebSocket control frames.
  void write_raw(std::vector<std::uint8_t> bytes);
  write_result write_frames(std::vector<outbound_frame> frames, bool as_websocket_data);
  // Decodes whole packets from input; returns bytes consumed.
  std::size_t consume(mqtt::byte_view input);
  void keep_unconsumed(mqtt::byte_view input, std::size_t consumed);
  void dispatch(mqtt::packet&& p);
  void on_connect(mqtt::connect_packet&& c);
  void on_authenticated(authenticator::outcome o, connection_params params);
  void on_auth(mqtt::auth_packet&& a);
  void hand_to_registry(connection_params params);
  void refuse_connect(mqtt::protocol_version version, mqtt::reason_code reason,
                      const std::string& why, const std::string& server_reference = {});
  void fail(const mqtt::decode_result& r);
  void violate(mqtt::reason_code reason, const std::string& why);
  void server_only(mqtt::packet_type type);
  void lost();
  void on_silence();
  void begin_close();
  void schedule_write_locked();
  // Sends frames straight from the calling thread when no write is in flight;
  // what the socket does not take is queued for the I/O thread.
  void send_or_queue_locked(std::vector<outbound_frame>& frames);
  void do_write();
  struct write_batch;
  void gather(write_batch& batch);
  void close_socket();
  // After the write backlog of a closing connection is out: a connection
  // that sent a DISCONNECT, or a WebSocket close frame not yet answered,
  // lingers (see linger_for_close); anything else is closed at once.
  void finish_close();
  void linger_for_close();
  void on_linger_readable();
  void write_now(const mqtt::packet& p);
  void write_disconnect(mqtt::reason_code reason, std::string_view why);
  std::string peer_address() const;
  bool within_publish_rate(const mqtt::publish_packet& p);

  socket_type socket_;
  // MQTT over WebSocket: the opening handshake, then frames around the MQTT
  // bytes. Only WebSocket connections have one.
  struct websocket_state {
    explicit websocket_state(const websocket::upgrade_rules& r) : rules(r) {}
    const websocket::upgrade_rules& rules;
    bool upgraded = false;
    bool close_sent = false;
    websocket::close_code close_code = websocket::close_code::normal;
    websocket::frame_reader reader;
  };
  std::unique_ptr<websocket_state> ws_;
  // Only while a closing connection lingers (see linger_for_close).
  struct lingering {
    explicit lingering(const boost::asio::any_io_executor& io) : timer(io) {}
    boost::asio::steady_timer timer;
    std::size_t read = 0;  // bytes read and dropped meanwhile
  };
  std::unique_ptr<lingering> linger_;
  std::unique_ptr<tls_stream> tls_;  // null on plain TCP; used under mutex_
  bool tls_read_wants_write_ = false;
  // A DISCONNECT was written: the close lingers. Set from actor threads.
  std::atomic<bool> disconnect_written_{false};
  int fd_ = -1;  // socket_'s descriptor, for sends from actor threads
  edge_context& ctx_;
  phase phase_ = phase::awaiting_connect;
  mqtt::reason_code refusal_ = mqtt::reason_code::success;
  mqtt::protocol_version version_ = mqtt::protocol_version::v5;
  std::uint32_t client_maximum_packet_size_ = mqtt::max_packet_size_limit;
  // When the last whole packet arrived (steady clock, ms), and how long the
  // client may stay silent (0 = forever): the connect timeout until CONNECT,
  // then 1.5 times the keep alive. Read by the sweep on another thread.
  std::atomic<std::int64_t> last_heard_ms_{0};
  std::atomic<std::uint32_t> silence_limit_ms_{0};
  caf::actor session_;
  std::vector<std::uint8_t> unfinished_;  // bytes of a packet not yet complete

  // Packets handed to the session and not yet handled by it.
  static constexpr std::int64_t inbound_window = 512;
  std::atomic<std::int64_t> unprocessed_{0};
  std::atomic<bool> paused_{false};

  // Shared with actor threads.
  mutable std::mutex mutex_;
  std::vector<outbound_frame> queued_;
  std::size_t backlog_bytes_ = 0;
  bool write_scheduled_ = false;
  bool close_requested_ = false;
  bool gone_ = false;

  // Owned by the write in flight; allocated only while one is, since most
  // connections are idle most of the time.
  struct write_batch {
    std::vector<outbound_frame> frames;
    std::vector<boost::asio::const_buffer> buffers;
    std::vector<std::uint8_t> staging;  // small frames copied together (TLS: all of them)
    std::size_t tls_written = 0;        // of staging, taken by the TLS session
  };
  std::unique_ptr<write_batch> writing_;

  // Publish rate buckets, allocated at the first PUBLISH when a rate limit
  // is configured.
  struct publish_rate {
    double messages = 0;
    double bytes = 0;
    std::int64_t last_ms = 0;
  };
  std::unique_ptr<publish_rate> rate_;
};

// Milliseconds on the steady clock, the time base of silence checks.
std::int64_t steady_now_ms();

}  // namespace convoy::runtime
