#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

namespace convoy {

// Whether this node may act as a member of its cluster now, as its cluster
// agent last learned from the membership keeper, and where clients should
// go meanwhile: read by the session registry on every CONNECT and by
// sessions on every QoS 1/2 PUBLISH, so it is an atomic, not a message.
// A node that is not a member (it is joining, or cut off from etcd and
// stepped down) acknowledges nothing a partition could take back: its
// CONNECTs are refused and its clients' QoS 1/2 PUBLISHes end their
// connection, with 0x9C Use another server and a Server Reference to a
// member it last knew, or 0x88 Server unavailable when it knows none.
class cluster_standing {
 public:
  bool member() const { return member_.load(std::memory_order_acquire); }

  // "host:port" of another member's MQTT listener; empty when none is known.
  std::string referral() const {
    std::lock_guard lock{mutex_};
    return referral_;
  }

  void set(bool member, std::string referral) {
    {
      std::lock_guard lock{mutex_};
      referral_ = std::move(referral);
    }
    member_.store(member, std::memory_order_release);
  }

 private:
  std::atomic<bool> member_{false};
  mutable std::mutex mutex_;
  std::string referral_;
};

using standing_ptr = std::shared_ptr<cluster_standing>;

}  // namespace convoy
