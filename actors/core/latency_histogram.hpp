#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace convoy {

// A latency distribution in fixed buckets, lock-free: observing costs two
// relaxed atomic adds and a short scan, cheap enough for every delivery.
// Buckets follow Prometheus convention: each counts observations at or
// below its bound; the last one is +Inf.
class latency_histogram {
 public:
  static constexpr std::array<std::uint64_t, 15> bounds_us = {
      100,    250,     500,     1'000,   2'500,     5'000,     10'000,    25'000,
      50'000, 100'000, 250'000, 500'000, 1'000'000, 2'500'000, 10'000'000};

  void observe(std::uint64_t us) {
    std::size_t i = 0;
    while (i < bounds_us.size() && us > bounds_us[i])
      ++i;
    buckets_[i].fetch_add(1, std::memory_order_relaxed);
    sum_us_.fetch_add(us, std::memory_order_relaxed);
  }

  struct snapshot {
    std::array<std::uint64_t, bounds_us.size() + 1> cumulative{};  // last: +Inf, the count
    std::uint64_t sum_us = 0;
    std::uint64_t count() const { return cumulative.back(); }
  };

  snapshot read() const {
    snapshot s;
    std::uint64_t running = 0;
    for (std::size_t i = 0; i < buckets_.size(); ++i) {
      running += buckets_[i].load(std::memory_order_relaxed);
      s.cumulative[i] = running;
    }
    s.sum_us = sum_us_.load(std::memory_order_relaxed);
    return s;
  }

 private:
  std::array<std::atomic<std::uint64_t>, bounds_us.size() + 1> buckets_{};
  std::atomic<std::uint64_t> sum_us_{0};
};

}  // namespace convoy
