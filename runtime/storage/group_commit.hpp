#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "runtime/storage/commit_counters.hpp"
#include "runtime/storage/storage_env.hpp"
#include "runtime/storage/write_batch.hpp"

namespace convoy::storage {

struct group_commit_options {
  // How long the first pending batch waits for others to share its commit.
  std::chrono::microseconds commit_window{1000};
  // Operations committed in one transaction at most; reaching them commits
  // at once. A batch is never split, so a larger one is committed alone.
  std::size_t max_batch_ops = 4096;
  // Operations waiting for the writer at most; submit() refuses beyond.
  std::size_t max_pending_ops = 65536;
  // Told how long each successful commit took, on the writer thread (for
  // the node's latency histogram); may be empty.
  std::function<void(std::uint64_t microseconds)> on_commit;
};

// The single writer of a storage_env. Many actors submit write_batches; one
// thread of its own collects them and commits as many as it has in one LMDB
// write transaction with one sync, so the cost of a flush is shared and
// never paid on an actor scheduler or Asio thread.
//
// A group is committed when commit_window has passed since its oldest batch
// was submitted, or as soon as max_batch_ops operations are pending. Batches
// that arrive while a commit is being flushed form the next group. When one
// batch of a group cannot be written (the map is full, say), the group is
// redone with each batch in a nested transaction, so only the batches that
// do not fit fail and the rest are committed.
//
// Batches are committed in submission order, so two batches from one actor
// land in the order it submitted them; a later one may succeed where an
// earlier one failed.
class group_commit {
 public:
  // env must outlive this object.
  group_commit(const storage_env& env, group_commit_options options);
  // Stops, committing everything pending first.
  ~group_commit();
  group_commit(const group_commit&) = delete;
  group_commit& operator=(const group_commit&) = delete;

  // Hands batch to the writer: true, and its completion will be called once.
  // False when taking it would exceed max_pending_ops (or it is larger than
  // max_pending_ops) or the writer is stopping; batch is then left untouched
  // and its completion will not be called. Thread-safe; never blocks on I/O.
  [[nodiscard]] bool submit(write_batch&& batch);

  // Refuses further submissions, commits what is pending and joins the
  // writer thread. Idempotent; must not be called from a completion.
  void stop();

  const commit_counters& counters() const noexcept { return counters_; }
  const group_commit_options& options() const noexcept { return options_; }

 private:
  using clock = std::chrono::steady_clock;

  struct pending_batch {
    write_batch batch;
    clock::time_point submitted_at;
    std::size_t cost = 0;  // operations it counts against the bounds
  };

  // noexcept: a completion that throws ends the process with the thrower's
  // stack instead of silently killing the only writer.
  void run() noexcept;
  // Moves the oldest pending batches, up to max_batch_ops operations (at
  // least one batch), into group.
  void take_group(std::vector<pending_batch>& group);
  // Commits group and calls every batch's completion.
  void commit_group(std::vector<pending_batch>& group);
  // All batches without an outcome in one transaction; the error that
  // failed it, if any.
  std::optional<storage_error> commit_together(
      const std::vector<pending_batch>& group,
      const std::vector<std::optional<storage_error>>& outcome);
  // The same, each batch in a nested transaction: a batch that fails gets
  // its outcome and the others are still committed. The error that failed
  // the whole transaction, if any.
  std::optional<storage_error> commit_separately(
      const std::vector<pending_batch>& group, std::vector<std::optional<storage_error>>& outcome);

  const storage_env& env_;
  const group_commit_options options_;
  commit_counters counters_;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<pending_batch> pending_;  // guarded by mutex_
  std::size_t pending_ops_ = 0;        // guarded by mutex_
  bool stopping_ = false;              // guarded by mutex_

  std::mutex stop_mutex_;  // serialises stop(), so only one caller joins
  std::thread writer_;     // last: started once everything above exists
};

}  // namespace convoy::storage
