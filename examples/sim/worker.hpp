#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "examples/sim/frames.hpp"
#include "examples/sim/options.hpp"
#include "examples/sim/stats.hpp"
#include "protocol/decoder.hpp"
#include "protocol/packets.hpp"

namespace convoy::sim {

// What every worker reads and nobody changes once the run has started.
struct plan {
  options opt;
  mqtt::protocol_version version = mqtt::protocol_version::v5;
  boost::asio::ip::tcp::endpoint target;
  std::uint8_t publish_qos = 0;
  std::uint8_t subscribe_qos = 0;
  std::int64_t start_ns = 0;
  std::int64_t publish_end_ns = 0;  // publishing stops here; the drain follows
  std::int64_t end_ns = 0;
  std::int64_t warmup_ns = 0;
  std::int64_t connect_timeout_ns = 0;
  std::uint32_t total_clients = 0;
  std::uint32_t max_connecting_per_worker = 1;  // --max-connecting split over the workers
  bool pair_filter = false;                     // the subscribe filter contains {vin}
  bool track_sequences = false;                 // subscribers keep a next-sequence per vehicle
  bool responders = false;                      // vehicles subscribe to commands and answer
  std::uint8_t command_qos = 1;
  std::string command_outcome = "succeeded";  // for commands of the node's workflows
  std::uint32_t commanders = 0;               // 0 or 1: the back-end client sending commands
  std::vector<std::uint8_t> filler;           // payload bytes after the stamp
  control_frames frames{mqtt::protocol_version::v5};
};

// What workers share and change: the ramp's progress across threads.
struct run_state {
  std::atomic<std::int64_t> window_start_ns{INT64_MAX};
  std::atomic<std::int64_t> ramp_end_ns{0};
  std::atomic<std::uint32_t> unsettled_subscribers{0};
  std::atomic<std::uint32_t> unsettled_clients{0};
  std::atomic<bool> first_error_taken{false};
  std::string first_error;  // written once, by whoever takes the flag
};

struct vehicle_result {
  std::uint32_t index = 0;
  std::uint32_t sent = 0;
  std::uint32_t unacked = 0;
};

// What the back-end commander saw of its commands.
struct commander_result {
  std::uint64_t sent = 0;
  std::uint64_t answered = 0;  // distinct commands with a response
  std::uint64_t duplicate_responses = 0;
  std::uint64_t unacked = 0;
};

struct subscriber_result {
  std::uint32_t index = 0;
  bool subscribed = false;
  bool tracked = false;
  std::uint64_t received = 0;
  std::uint64_t unique = 0;
  std::uint64_t duplicates = 0;
};

std::int64_t now_ns();

// One I/O thread with its share of the clients: an io_context, four timers
// (ramp, publish pacing, command pacing, housekeeping) whatever the number of clients, and
// per-thread buffers. Clients never move between workers.
class worker {
 public:
  // id: this worker's place among all, which offsets its publish slots.
  worker(const plan& p, run_state& shared, unsigned id);
  ~worker();

  void add_subscriber(std::uint32_t index, std::uint32_t number);
  void add_vehicle(std::uint32_t index, std::uint32_t number);
  void add_commander(std::uint32_t index, std::uint32_t number);

  void start();
  // Sends DISCONNECT on every connection, closes them and ends the thread.
  void stop();
  void join();

  const thread_stats& stats() const { return stats_; }
  // After join().
  void collect(std::vector<vehicle_result>& vehicles, std::vector<subscriber_result>& subscribers,
               std::vector<commander_result>& commanders) const;

 private:
  enum class state : std::uint8_t {
    idle,
    connecting,
    awaiting_connack,
    subscribing,
    ready,
    closed
  };

  // Vehicles publish telemetry and command responses; the commander
  // publishes commands and subscribes to their responses.
  enum class role : std::uint8_t { vehicle, subscriber, commander };

  // What an in-flight QoS 1/2 publish was, for the acknowledgement's accounting.
  enum class sent_kind : std::uint8_t { telemetry, response, command };

  struct inflight_entry {
    std::uint16_t id;
    sent_kind kind;
    std::int64_t sent_ns;
  };

  struct client {
    explicit client(boost::asio::io_context& io) : socket(io) {}
    boost::asio::ip::tcp::socket socket;
    std::uint32_t index = 0;   // vehicle, subscriber or commander number
    std::uint32_t number = 0;  // client number over all kinds (source address)
    role kind = role::vehicle;
    state st = state::idle;
    bool settled = false;
    bool subscribed = false;
    bool write_waiting = false;
    std::uint16_t keep_alive = 0;
    std::uint16_t window = 0;
    std::uint16_t next_id = 1;
    std::uint16_t owed = 0;  // publishes due while the window was full
    std::uint16_t inflight_head = 0;
    std::uint16_t inflight_count = 0;
    std::uint16_t id_offset = 0;
    std::uint32_t seq = 0;  // vehicles: messages sent
    std::int64_t deadline_ns = 0;
    std::int64_t last_sent_ns = 0;
    std::int64_t ping_sent_ns = 0;
    std::vector<std::uint8_t> header;  // this vehicle's PUBLISH header, from the codec
    std::unique_ptr<inflight_entry[]> inflight;
    std::vector<std::uint8_t> out;  // bytes the socket did not take yet
    std::size_t out_pos = 0;
    std::vector<std::uint8_t> in;  // start of a packet whose rest has not arrived
    // Subscribers; the commander counts responses in received and duplicates.
    std::unique_ptr<std::uint32_t[]> next_seq;
    std::uint64_t received = 0;
    std::uint64_t unique = 0;
    std::uint64_t duplicates = 0;
  };

  // The commander's own bookkeeping: one bit per command sent, set by its
  // response. A run of an hour at 10,000 commands/s takes 4.5 MB.
  struct command_book {
    std::vector<bool> answered;
    std::uint64_t answered_count = 0;
    std::uint64_t duplicate_responses = 0;
  };

  void shutdown();
  void ramp_tick();
  void post_ramp();
  void publish_tick();
  void housekeeping_tick();
  void command_tick();
  void arm(boost::asio::steady_timer& timer, std::int64_t at_ns, void (worker::*fn)());

  void start_connect(client& c, std::int64_t now);
  void on_connected(client& c, const boost::system::error_code& ec);
  void become_ready(client& c, std::int64_t now);
  void fail_connect(client& c, std::int64_t now);
  void settle(client& c, std::int64_t now);
  void lost(client& c, error_kind kind, std::int64_t now);
  void close_socket(client& c);
  void note_error(const std::string& what);

  void wait_readable(client& c);
  void on_readable(client& c);
  void feed(client& c, mqtt::byte_view data, std::int64_t now);
  std::size_t consume(client& c, mqtt::byte_view data, std::int64_t now);
  void on_publish(client& c, mqtt::byte_view frame, std::size_t header_size, std::int64_t now);
  void on_packet(client& c, mqtt::packet& p, std::int64_t now);
  void on_ack(client& c, const mqtt::pub_ack_packet& a, std::int64_t now);
  void complete_publish(client& c, std::uint16_t id, mqtt::reason_code reason, std::int64_t now);
  // The SUBSCRIBE a client sends after CONNACK; false when it has none.
  bool subscription_of(const client& c, mqtt::subscribe_packet& out) const;
  void on_subscribed(client& c, const mqtt::suback_packet& ack, std::int64_t now);
  // The PUBLISH in frame, or nullopt after the connection was dropped for it.
  std::optional<mqtt::publish_packet> decode_publish(client& c, mqtt::byte_view frame,
                                                     std::int64_t now);
  void send_encoded(client& c, const mqtt::publish_packet& p, std::int64_t now);
  void on_command(client& c, mqtt::byte_view frame, std::int64_t now);
  bool answer_workflow_command(client& c, const mqtt::publish_packet& command, std::int64_t now);
  void on_response(client& c, mqtt::byte_view frame, std::int64_t now);
  // A packet id for a QoS 1/2 publish of c, its window permitting; 0 when full.
  std::uint16_t take_packet_id(client& c, sent_kind kind, std::int64_t now);
  void send_command(client& c, std::int64_t now);

  void publish(client& c, std::int64_t now);
  void build_header(client& c);
  // Writes now if nothing is queued, else queues. False only when a droppable
  // write (a publish) finds more than out_limit queued already.
  bool send(client& c, const boost::asio::const_buffer* buffers, std::size_t count, bool droppable,
            std::int64_t now);
  bool send(client& c, const std::uint8_t* data, std::size_t size, std::int64_t now) {
    boost::asio::const_buffer b{data, size};
    return send(c, &b, 1, false, now);
  }
  void wait_writable(client& c);
  void flush(client& c);
  void flush_batch(client& c, std::int64_t now);

  const plan& plan_;
  run_state& shared_;
  unsigned id_;
  boost::asio::io_context io_{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  boost::asio::steady_timer ramp_timer_;
  boost::asio::steady_timer publish_timer_;
  boost::asio::steady_timer tick_timer_;
  boost::asio::steady_timer command_timer_;
  std::thread thread_;
  thread_stats stats_;
  mqtt::decode_options decode_options_;

  std::deque<client> clients_;
  std::vector<client*> order_;  // connection order: subscribers, then vehicles
  std::vector<client*> vehicles_;
  client* commander_ = nullptr;
  command_book commands_;

  // Ramp.
  std::size_t next_ = 0;
  std::uint32_t connecting_ = 0;
  bool ramp_posted_ = false;
  bool vehicles_rebased_ = false;
  double ramp_interval_ns_ = 0;
  std::int64_t ramp_base_ns_ = 0;
  std::size_t ramp_base_index_ = 0;

  // Publish pacing: one round-robin over this worker's vehicles.
  double publish_interval_ns_ = 0;
  std::int64_t publish_base_ns_ = 0;
  std::uint64_t publish_slot_ = 0;

  // Command pacing: --command-rate over the measurement window.
  double command_interval_ns_ = 0;
  std::int64_t command_base_ns_ = 0;
  std::uint64_t command_slot_ = 0;

  bool stopping_ = false;
  std::int64_t tick_ns_;
  std::vector<std::uint8_t> read_buffer_;
  std::vector<std::uint8_t> batch_;  // acknowledgements for the client being read
  mqtt::byte_buffer scratch_;        // CONNECT, SUBSCRIBE
};

}  // namespace convoy::sim
