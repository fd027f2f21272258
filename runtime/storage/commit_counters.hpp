#pragma once

#include <atomic>
#include <cstdint>

namespace convoy::storage {

// What the group commit writer has done, for metrics and tests. The writer
// updates these with relaxed atomics; anyone may read them at any time, each
// value on its own (two values read one after the other may straddle a
// commit).
struct commit_counters {
  std::atomic<std::uint64_t> commits{0};  // write transactions committed (one sync each)
  std::atomic<std::uint64_t> ops{0};      // operations in them
  std::atomic<std::uint64_t> bytes{0};    // key and value bytes in them
  // Groups of which nothing could be committed (an I/O error, a full map),
  // so that every batch in them failed.
  std::atomic<std::uint64_t> failed_commits{0};
  // Batches whose completion was told of an error, alone or with a failed commit.
  std::atomic<std::uint64_t> failed_batches{0};
  // submit() calls answered false: the pending queue was full, or the writer stopping.
  std::atomic<std::uint64_t> refused_submissions{0};
  // Time from beginning a write transaction to its commit being durable.
  std::atomic<std::uint64_t> last_commit_us{0};
  std::atomic<std::uint64_t> total_commit_us{0};

  std::uint64_t average_commit_us() const noexcept {
    std::uint64_t n = commits.load(std::memory_order_relaxed);
    return n == 0 ? 0 : total_commit_us.load(std::memory_order_relaxed) / n;
  }
};

}  // namespace convoy::storage
