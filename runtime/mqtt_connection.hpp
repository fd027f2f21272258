#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <caf/send.hpp>
#include "actors/messages.hpp"

#include "actors/session_sink.hpp"
#include "protocol/decoder.hpp"
#include "runtime/edge_context.hpp"

namespace convoy::runtime {

// One MQTT client over TCP. Decodes packets straight from the bytes it reads
// and hands them to the client's session actor; writes what the session
// sends with gather writes, one write in flight, coalescing everything queued
// meanwhile. Holds no read buffer while idle: it waits for readability, reads
// into a per-thread buffer and keeps only the bytes of an unfinished packet.
class mqtt_connection final : public session_sink,
                              public std::enable_shared_from_this<mqtt_connection> {
 public:
  using socket_type = boost::asio::ip::tcp::socket;

  mqtt_connection(socket_type socket, edge_context& ctx);
  ~mqtt_connection() override;

  void start();

  // Closes with an MQTT 5 DISCONNECT carrying reason (node shutdown).
  void shut_down(mqtt::reason_code reason);

  // session_sink, called from actor threads.
  write_result write(std::vector<outbound_frame> frames) override;
  void bind(caf::actor session, std::uint16_t keep_alive) override;
  void consumed(std::uint32_t packets) override;
  void close() override;

 private:
  enum class phase : std::uint8_t {
    awaiting_connect,  // accepted, CONNECT not yet received
    connecting,        // CONNECT handed to the registry, reading paused
    bound,             // session attached, packets flow
    closing,           // no more reading; writes drain, then the socket closes
    closed,
  };

  void wait_readable();
  void read_more_or_pause();
  template <class Packet>
  void to_session(Packet&& p) {
    unprocessed_.fetch_add(1);
    caf::anon_send(session_, std::forward<Packet>(p));
  }
  void on_readable();
  // Decodes whole packets from input; returns bytes consumed.
  std::size_t consume(mqtt::byte_view input);
  void keep_unconsumed(mqtt::byte_view input, std::size_t consumed);
  void dispatch(mqtt::packet&& p);
  void on_connect(mqtt::connect_packet&& c);
  void refuse_connect(mqtt::protocol_version version, mqtt::reason_code reason,
                      const std::string& why);
  void fail(const mqtt::decode_result& r);
  void violate(mqtt::reason_code reason, const std::string& why);
  void server_only(mqtt::packet_type type);
  void lost();
  void arm_keep_alive();
  void begin_close();
  void schedule_write_locked();
  // Sends frames straight from the calling thread when no write is in flight;
  // what the socket does not take is queued for the I/O thread.
  void send_or_queue_locked(std::vector<outbound_frame>& frames);
  void do_write();
  void gather_writing();
  void close_socket();
  void write_now(const mqtt::packet& p);
  std::string peer() const;  // "address:port", for logs

  socket_type socket_;
  int fd_ = -1;  // socket_'s descriptor, for sends from actor threads
  edge_context& ctx_;
  boost::asio::steady_timer timer_;
  phase phase_ = phase::awaiting_connect;
  mqtt::protocol_version version_ = mqtt::protocol_version::v5;
  std::uint16_t keep_alive_ = 0;
  std::uint32_t client_maximum_packet_size_ = mqtt::max_packet_size_limit;
  std::chrono::steady_clock::time_point last_heard_;
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

  // Owned by the write in flight.
  std::vector<outbound_frame> writing_;
  std::vector<boost::asio::const_buffer> buffers_;
  std::vector<std::uint8_t> staging_;  // small frames copied together
};

}  // namespace convoy::runtime
