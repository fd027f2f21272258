#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor.hpp>

#include "protocol/reason_code.hpp"
#include "protocol/types.hpp"

namespace convoy {

// Encoded bytes on their way to one client: a small per-delivery head (fixed
// and variable header) and an optional body shared with other deliveries of
// the same message, so the payload is never copied per subscriber.
struct outbound_frame {
  mqtt::byte_buffer head;
  // Set instead of head when the header bytes are shared as well (a PUBLISH
  // whose header is the same for every subscriber of its delivery shape).
  std::shared_ptr<const mqtt::byte_buffer> shared_head;
  std::shared_ptr<const std::string> body;
  // A QoS 0 PUBLISH, which the connection may refuse when its outbound
  // backlog is over its bound. Everything else is bounded by the session's
  // in-flight window instead and always taken.
  bool droppable = false;
  std::size_t size() const {
    return head.size() + (shared_head ? shared_head->size() : 0) + (body ? body->size() : 0);
  }
};

// The edge side of a session: a connection that owns the socket. A session
// always lives on the node its client is connected to, so this handle never
// crosses nodes. All calls are thread-safe and never block.
class session_sink {
 public:
  virtual ~session_sink() = default;

  struct write_result {
    std::uint32_t refused = 0;  // droppable frames not taken: backlog over its bound
    bool gone = false;          // the connection is closed; nothing was taken
  };

  // Writes frames in order, refusing droppable ones while the outbound
  // backlog is over its bound.
  virtual write_result write(std::vector<outbound_frame> frames) = 0;

  // The session accepted the connection: packets after CONNECT go to
  // `session`, and the client must be heard from every `keep_alive` seconds
  // (0 = never).
  virtual void bind(caf::actor session, std::uint16_t keep_alive) = 0;

  // The session has handled this many packets the connection handed it;
  // the connection reads on while fewer than its window are outstanding.
  virtual void consumed(std::uint32_t packets) = 0;

  // Writes what is queued, then closes the socket.
  virtual void close() = 0;

  // The CONNECT is refused before any session took the connection: the
  // client gets a CONNACK with `reason` (and MQTT 5 `why` as its reason
  // string, and `server_reference`, "host:port", with 0x9C Use another
  // server), then the connection closes.
  virtual void refuse(mqtt::reason_code reason, std::string why,
                      std::string server_reference = {}) = 0;

  // Where the client is, for operators: "address:port", and how it is
  // connected: tcp, tls, ws or wss.
  virtual std::string peer() const { return {}; }
  virtual const char* transport() const { return "tcp"; }

  // Identifies the connection in messages from the edge, so a session can
  // tell its current connection from one it already replaced.
  std::uint64_t id() const { return reinterpret_cast<std::uintptr_t>(this); }
};

using sink_ptr = std::shared_ptr<session_sink>;

}  // namespace convoy
