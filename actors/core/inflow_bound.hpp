#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include <caf/actor.hpp>

namespace convoy {

// A bound on the messages on their way to one actor that many senders feed
// without waiting for an answer (sessions feeding state shards, archives,
// rule workers, webhooks). CAF 0.17 lets only an actor itself read its
// mailbox size, so senders take a slot before sending and the actor gives
// it back once it has handled the message; a sender that finds no slot
// drops the message and counts it. The actor and its senders share the
// bound, so both live on one node.
class inflow_bound {
 public:
  explicit inflow_bound(std::int64_t limit) : limit_(limit) {}

  bool try_take() {
    if (queued_.fetch_add(1, std::memory_order_relaxed) >= limit_) {
      queued_.fetch_sub(1, std::memory_order_relaxed);
      return false;
    }
    return true;
  }
  void give_back() { queued_.fetch_sub(1, std::memory_order_relaxed); }
  std::int64_t queued() const { return queued_.load(std::memory_order_relaxed); }
  std::int64_t limit() const { return limit_; }

 private:
  std::atomic<std::int64_t> queued_{0};
  const std::int64_t limit_;
};

using inflow_ptr = std::shared_ptr<inflow_bound>;

// An actor that sessions feed without waiting, with the bound on what is
// on its way to it.
struct fed_actor {
  caf::actor actor;
  inflow_ptr inflow;
};

// Messages on their way to one such actor at most.
inline constexpr std::int64_t default_inflow_limit = 10'000;

// An actor that sessions feed without waiting, spawned with its bound:
// spawn(bound) returns the actor.
template <class Spawn>
fed_actor spawn_fed(Spawn spawn) {
  auto bound = std::make_shared<inflow_bound>(default_inflow_limit);
  return {spawn(bound), bound};
}

}  // namespace convoy
