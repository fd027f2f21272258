#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <string>

#include "examples/sim/histogram.hpp"

namespace convoy::sim {

// A count written by one worker thread and read by the progress line: a
// relaxed load and store, no locked instruction.
class counter {
 public:
  void add(std::uint64_t n = 1) {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::uint64_t get() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// Errors and skipped work without an MQTT reason code.
enum class error_kind : std::uint8_t {
  connect_refused,        // TCP connection refused
  connect_timeout,        // no CONNACK (or SUBACK) within --connect-timeout
  connect_error,          // any other failure to connect (unreachable, EMFILE, bind, ...)
  closed_before_connack,  // the broker closed the connection before CONNACK
  subscribe_failed,       // SUBACK with a failure code
  connection_closed,      // broker closed an established connection without DISCONNECT
  connection_error,       // reset or another socket error on an established connection
  ping_timeout,           // no PINGRESP within the keep alive
  protocol_error,         // a packet from the broker the codec refused
  unexpected_packet,      // a well-formed packet that makes no sense at that point
  ack_unknown_packet_id,  // PUBACK/PUBREC/PUBCOMP for no publish in flight
  foreign_payload,        // a received message without the simulator's stamp
  skipped_window_full,    // publish due while --max-inflight were unacknowledged
  skipped_backpressure,   // publish due while the socket had 256 KiB unsent
  skipped_lag,            // publish due more than a second ago: the simulator fell behind
  command_skipped,        // command due while --max-inflight commands were unacknowledged
  response_skipped,       // a vehicle could not answer: its window was full
  bad_command,            // an MQTT 5 command without a Response Topic
  bad_response,           // a response without the command's stamp or correlation data
  count_
};

const char* to_string(error_kind k);

// Per worker thread. Gauges are differences of two counters so that every
// field has one writer.
struct thread_stats {
  counter attempts;         // connection attempts started
  counter connected;        // CONNACK success (and SUBACK for subscribers)
  counter connect_failed;   // attempts that ended without a connection
  counter lost;             // established connections that ended before the run did
  counter subscribed;       // subscribers whose SUBACK granted the subscription
  counter sent;             // PUBLISH written by vehicles
  counter sent_window;      // ... of them in the measurement window
  counter acked;            // PUBACK (QoS 1) / PUBCOMP (QoS 2) received
  counter received;         // PUBLISH received by subscribers
  counter received_window;  // ... that were sent in the measurement window
  counter bytes_sent;
  counter bytes_received;
  counter pings;
  counter responders;          // vehicles whose command subscription was granted
  counter commands_sent;       // by the commander
  counter commands_acked;      // PUBACK / PUBCOMP for a command
  counter commands_received;   // by vehicles
  counter responses_sent;      // by vehicles
  counter responses_received;  // by the commander, duplicates included
  std::array<counter, static_cast<std::size_t>(error_kind::count_)> errors;
  // By MQTT reason code (3.1.1 CONNACK return codes mapped to 5.0 codes).
  std::array<counter, 256> connack_refusals;
  std::array<counter, 256> disconnects;       // DISCONNECT from the broker
  std::array<counter, 256> publish_refusals;  // PUBACK / PUBREC with a failure code
  live_histogram latency;                     // end to end, microseconds
  live_histogram ack_latency;                 // PUBLISH to PUBACK / PUBCOMP, microseconds
  live_histogram command_latency;             // command sent to its response back, microseconds

  void error(error_kind k) { errors[static_cast<std::size_t>(k)].add(); }
  std::uint64_t error_total() const;
  // Adds every non-zero error to out, keyed by kind ("connack_not_authorized", ...).
  void collect_errors(std::map<std::string, std::uint64_t>& out) const;
};

}  // namespace convoy::sim
