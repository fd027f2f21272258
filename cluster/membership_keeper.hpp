#pragma once

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "cluster/cluster_view.hpp"
#include "cluster/etcd_client.hpp"
#include "cluster/membership.hpp"
#include "cluster/slice_claims.hpp"

namespace convoy::cluster {

struct keeper_settings {
  std::vector<std::string> etcd;  // http://host:port endpoints
  std::string cluster;
  std::chrono::seconds lease_ttl{5};
  member_record self;  // node, host and ports; the incarnation comes from etcd
  std::vector<slice_claims::kind_count> slices;  // the slices members claim
};

// Keeps this node a member of its cluster in etcd, on an I/O thread of its
// own: grants a lease, creates the member key under it, renews the lease a
// few times per TTL, reads the member set and the slice claims and watches
// them, and claims and releases slices as the member set says
// (slice_claims). Every change of what it knows (members, phase, authority,
// claims) goes to on_view.
//
// A node that cannot renew its lease in time steps down (membership) and
// keeps trying; etcd having dropped the lease (expired, or the key gone)
// makes it join again with a new incarnation. A node name another live
// member holds is waited for (the previous incarnation of a restarted
// node lingers until its lease expires), then refused: on_fatal.
class membership_keeper {
 public:
  struct observer {
    std::function<void(cluster_view)> on_view;  // on the keeper's thread
    std::function<void(std::string)> on_fatal;  // the node cannot be a member
  };

  membership_keeper(keeper_settings settings, observer watcher);
  ~membership_keeper();  // stop()

  // Starts joining; returns at once.
  void start();
  // Blocks until the node is a member, or `limit` passed, or joining failed
  // for good. True once a member.
  bool wait_joined(std::chrono::milliseconds limit);
  // Revokes the lease (so the other members see this node leave at once,
  // not a TTL later), waiting for it at most about a second, and stops the
  // thread. Idempotent.
  void stop();

 private:
  using clock = std::chrono::steady_clock;
  void join();
  void create_member_key();
  void schedule_renewal();
  void renew();
  void schedule_check();
  void read_members();
  void watch_members();
  void on_watch_message(std::string_view line);
  // After a read or watch event: if it ended this incarnation (the member
  // key is gone), says so and joins again.
  void join_again_if_ended(membership_phase before, const char* what);
  // A fresh read of the table and a new watch after it.
  void restart_watch();
  // Claims the slices this node should own and nobody holds, releases those
  // it holds and should not; one etcd call per slice in flight at most.
  void reconcile_slices();
  std::vector<std::string> member_names() const;
  void retry_later(void (membership_keeper::*step)(), std::chrono::milliseconds after);
  void etcd_failed(const std::string& what, const std::string& why);
  void etcd_ok();
  void publish();

  keeper_settings settings_;
  observer observer_;
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  etcd_client etcd_;
  membership state_;
  slice_claims claims_;
  std::set<slice_id> claims_in_flight_;
  std::string prefix_;
  std::string key_;
  boost::asio::steady_timer renewal_timer_;
  boost::asio::steady_timer check_timer_;
  std::shared_ptr<etcd_client::stream> watch_;
  std::uint64_t watch_generation_ = 0;  // messages of an older watch are ignored
  std::uint64_t join_generation_ = 0;   // replies to an older join are ignored
  clock::time_point name_wait_since_{};
  bool name_wait_logged_ = false;
  std::string etcd_error_;
  std::string logged_failure_;
  clock::time_point logged_failure_at_{};
  bool stopping_ = false;
  bool renewing_ = false;
  std::uint64_t checks_ = 0;
  std::promise<bool> joined_;
  bool joined_set_ = false;
  std::thread thread_;
};

}  // namespace convoy::cluster
