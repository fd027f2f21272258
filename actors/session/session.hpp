#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/core/broker_context.hpp"
#include "actors/core/messages.hpp"
#include "actors/core/small_fifo.hpp"

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

// An incoming QoS 2 PUBLISH not yet released by PUBREL.
struct qos2_receipt {
  std::uint16_t packet_id = 0;
  bool routed = false;
};

// Where a session is in its life. Every question "is the client connected"
// asks this; each transition happens in one function of session.cpp
// (attach_sink, connack_sent, detach_sink, begin_ending).
enum class session_phase : std::uint8_t {
  // No connection: a persistent session waiting for its client (until its
  // expiry), or a session spawned for a connection not yet attached.
  offline,
  // A connection attached; its CONNACK waits for storage, and what the
  // session writes meanwhile waits behind it in the outbox.
  connecting,
  online,  // the CONNACK went out; packets flow both ways
  ending,  // the session ended and its actor quits
};

// The MQTT session of one client id. It outlives its connections while its
// session expiry allows: subscriptions, in-flight messages, queued messages
// and the will stay here across reconnects. Its code: session.cpp and the
// files named in session_internal.hpp.
//
// Fields are grouped by size: a session is kept for every vehicle, idle or
// not, and the actor holding this state is allocated in size classes of 256
// bytes, so a few bytes of padding can cost a whole class.
struct session_state {
  context_ptr ctx;

  connection_params params;
  sink_ptr sink;  // set while connecting and online, null otherwise
  // Frames written while handling the current run of mailbox messages; one
  // write to the connection takes them all (see queue_frame in session_outbound.cpp).
  std::vector<outbound_frame> outbox;

  // Sorted by filter: a vector costs 24 bytes where a std::map costs 48, and
  // a vehicle holds a handful of subscriptions.
  std::vector<subscription_record> subscriptions;

  std::map<std::uint16_t, inflight_message> inflight;
  std::uint64_t next_sequence = 0;
  small_fifo<delivery> queue;

  small_fifo<pending_ack> acks;
  std::vector<qos2_receipt> qos2_incoming;  // at most Receive Maximum entries
  // Topic aliases the client defined; most clients define none and pay
  // only for the pointer.
  std::unique_ptr<std::vector<std::string>> inbound_aliases;

  std::uint32_t inflight_bytes = 0;  // topic and payload bytes of PUBLISHes on the wire
  std::uint32_t queued_bytes = 0;
  std::uint32_t queued_qos0 = 0;  // QoS 0 messages in the queue, the first to go when it is full
  std::uint32_t held_count = 0;   // in-flight messages waiting to be resent
  std::uint32_t connection_generation = 0;
  std::uint32_t timer_generation = 0;
  std::uint32_t incarnation = 0;  // see session_record
  // QoS 0 flow control towards the shards (see route_qos0 in session_inbound.cpp):
  // at most qos0_barrier_interval and one connection window (512).
  std::uint16_t routes_since_barrier = 0;
  std::uint16_t withheld_credit = 0;
  std::uint16_t next_packet_id = 1;
  session_phase phase = session_phase::offline;
  bool barrier_pending : 1 = false;
  bool flush_scheduled : 1 = false;
  bool resumed_before : 1 = false;  // false until the first connection attached
  bool will_armed : 1 = false;      // the connection was lost and the will waits for its delay
  bool persisted : 1 = false;       // storage holds a record of this session
  bool connack_session_present : 1 = false;
  // What the shards of the subscriptions were told (subscriber_state).
  bool announced_persistent : 1 = false;
  bool announced_refusing : 1 = false;
  bool sweep_armed : 1 = false;   // a timer will drop expired messages from the queue
  std::uint8_t logged_drops = 0;  // drop reasons already logged for this session

  // Whether a connection is attached (its CONNACK may still be waiting).
  bool connected() const {
    return phase == session_phase::connecting || phase == session_phase::online;
  }
  // The sink id of the current connection, 0 while there is none.
  std::uint64_t connection() const { return connected() ? sink->id() : 0; }

  // Takes what is still queued off the node's queue gauge.
  ~session_state();

  static inline const char* name = "session";
};

using session_actor = caf::stateful_actor<session_state>;

// The registry that spawns a session monitors it and forgets its client id
// when it ends.
caf::behavior session(session_actor* self, context_ptr ctx);

}  // namespace convoy
