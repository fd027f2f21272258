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
};

using store_ptr = std::shared_ptr<durable_store>;

}  // namespace convoy
