#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "actors/messages.hpp"

namespace convoy {

// The node's durable storage as actors see it; runtime/lmdb_store implements
// it. Writes never block the caller: they are committed together with other
// actors' writes (group commit), and `done` runs on the storage's own thread
// once the write is durable (true) or has failed (false, the reason logged
// there), so it should only send a message.
class durable_store {
 public:
  using completion = std::function<void(bool stored)>;

  virtual ~durable_store() = default;

  // Keeps m as the retained message of its topic; an empty payload deletes
  // the topic's retained message. False, with `done` never called, when the
  // storage is over its bound of pending writes.
  virtual bool save_retained(const app_message& m, completion done) = 0;

  // The retained messages stored, expired ones left out, for start-up.
  virtual std::vector<message_ref> load_retained() = 0;

  // Writes (replaces) the record of a persistent session.
  virtual bool save_session(const session_record& s, completion done) = 0;
  // Deletes a session's record with everything stored for it.
  virtual bool erase_session(const std::string& client_id, completion done) = 0;
  // Incoming QoS 2: packet id `packet_id` of `client_id` was received and
  // not yet released, so a resend after a restart is not routed twice.
  virtual bool save_qos2_received(const std::string& client_id, std::uint16_t packet_id,
                                  completion done) = 0;
  virtual bool erase_qos2_received(const std::string& client_id, std::uint16_t packet_id,
                                   completion done) = 0;

  // Calls `done` once everything submitted before is durable.
  virtual bool sync(completion done) = 0;
  // Every stored session, for start-up; the caller drops expired ones.
  virtual std::vector<session_record> load_sessions() = 0;
};

using store_ptr = std::shared_ptr<durable_store>;

}  // namespace convoy
