#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/broker_context.hpp"
#include "actors/messages.hpp"
#include "actors/small_fifo.hpp"

namespace convoy {

// A QoS 1/2 message sent to the client and not yet acknowledged.
struct inflight_message {
  enum class stage : std::uint8_t { awaiting_puback, awaiting_pubrec, awaiting_pubcomp };
  delivery d;
  stage at = stage::awaiting_puback;
  std::uint64_t sequence = 0;  // send order, for resending in order
  bool held = false;           // not yet resent on the current connection
};

// A PUBACK or PUBREC owed to the client, sent once the message is routed.
// MQTT requires them in the order of the PUBLISHes, so they wait in line.
struct pending_ack {
  std::uint16_t packet_id = 0;
  mqtt::packet_type type = mqtt::packet_type::puback;
  bool done = false;
  mqtt::reason_code reason = mqtt::reason_code::success;
};

struct subscription_record {
  mqtt::subscription_options options;
  std::uint32_t subscription_id = 0;
};

// The MQTT session of one client id. It outlives its connections while its
// session expiry allows: subscriptions, in-flight messages, queued messages
// and the will stay here across reconnects.
struct session_state {
  context_ptr ctx;
  caf::actor registry;

  connection_params params;
  sink_ptr sink;  // null while the client is offline
  // Frames written while handling the current run of mailbox messages; one
  // write to the connection takes them all (see queue_frame in session.cpp).
  std::vector<outbound_frame> outbox;
  bool flush_scheduled = false;
  std::uint64_t connection = 0;  // sink id, 0 while offline
  std::uint64_t connection_generation = 0;
  bool resumed_before = false;  // false until the first connection attached

  std::map<std::string, subscription_record, std::less<>> subscriptions;

  std::map<std::uint16_t, inflight_message> inflight;
  std::size_t inflight_bytes = 0;  // topic and payload bytes of PUBLISHes on the wire
  std::size_t held_count = 0;      // in-flight messages waiting to be resent
  std::uint64_t next_sequence = 0;
  std::uint16_t next_packet_id = 1;
  small_fifo<delivery> queue;
  std::size_t queued_bytes = 0;

  small_fifo<pending_ack> acks;
  // QoS 2 packet ids received and not yet released by PUBREL; true once routed.
  std::unordered_map<std::uint16_t, bool> qos2_incoming;
  std::vector<std::string> inbound_aliases;

  // QoS 0 flow control towards the shards (see route_qos0 in session.cpp).
  std::uint32_t routes_since_barrier = 0;
  std::uint32_t withheld_credit = 0;
  bool barrier_pending = false;
  std::uint8_t logged_drops = 0;  // drop reasons already logged for this session
  bool will_armed = false;        // the connection was lost and the will waits for its delay
  std::uint64_t timer_generation = 0;

  static inline const char* name = "session";
};

using session_actor = caf::stateful_actor<session_state>;

caf::behavior session(session_actor* self, context_ptr ctx, caf::actor registry);

}  // namespace convoy
