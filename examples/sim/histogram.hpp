#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace convoy::sim {

// Log-linear buckets in the manner of HdrHistogram. Values below 256 have a
// bucket each; above that every power of two is split into 128 buckets, so a
// bucket is never wider than 1/128 (0.8 %) of the values in it. Values are
// microseconds; 2^40 us (12 days) and more share the last bucket. 4352
// buckets whatever is recorded: memory is bounded and recording is an index
// computation and an increment.
namespace buckets {

inline constexpr unsigned linear_bits = 8;
inline constexpr std::uint64_t linear = std::uint64_t{1} << linear_bits;
inline constexpr std::uint64_t half = linear / 2;
inline constexpr unsigned max_bits = 40;
inline constexpr std::uint64_t max_value = (std::uint64_t{1} << max_bits) - 1;
inline constexpr std::size_t count = (max_bits - linear_bits + 1) * half + half;

constexpr std::size_t index_of(std::uint64_t v) {
  if (v > max_value) v = max_value;
  if (v < linear) return static_cast<std::size_t>(v);
  unsigned shift = static_cast<unsigned>(std::bit_width(v)) - linear_bits;
  return static_cast<std::size_t>(shift * half + (v >> shift));
}

constexpr std::uint64_t lowest(std::size_t index) {
  if (index < linear) return index;
  unsigned shift = static_cast<unsigned>(index / half) - 1;
  return static_cast<std::uint64_t>(index - shift * half) << shift;
}

constexpr std::uint64_t highest(std::size_t index) {
  if (index < linear) return index;
  unsigned shift = static_cast<unsigned>(index / half) - 1;
  return ((static_cast<std::uint64_t>(index - shift * half) + 1) << shift) - 1;
}

}  // namespace buckets

// A plain histogram: recorded into by one thread, or filled from a
// live_histogram snapshot for reporting.
class histogram {
 public:
  histogram() : counts_(buckets::count, 0) {}

  void record(std::uint64_t v) {
    ++counts_[buckets::index_of(v)];
    ++total_;
    sum_ += v;
    if (v > max_) max_ = v;
    if (v < min_) min_ = v;
  }

  std::uint64_t count() const { return total_; }
  std::uint64_t max() const { return total_ == 0 ? 0 : max_; }
  std::uint64_t min() const { return total_ == 0 ? 0 : min_; }
  double mean() const { return total_ == 0 ? 0.0 : static_cast<double>(sum_) / total_; }

  // The value at or below which p percent of the recorded values lie, as the
  // highest value of its bucket but never above the largest value recorded.
  // 0 for an empty histogram.
  std::uint64_t percentile(double p) const;

  void merge(const histogram& other);
  // this - earlier, for the values recorded since `earlier` was taken from the
  // same source. Min and max then come from the buckets.
  histogram since(const histogram& earlier) const;

  const std::vector<std::uint64_t>& counts() const { return counts_; }

 private:
  friend class live_histogram;
  std::vector<std::uint64_t> counts_;
  std::uint64_t total_ = 0;
  std::uint64_t sum_ = 0;
  std::uint64_t max_ = 0;
  std::uint64_t min_ = UINT64_MAX;
};

// Written by one thread, read at any time by others (the progress line):
// counters are atomics incremented with plain loads and stores, which cost
// what a non-atomic increment costs on the single writer.
class live_histogram {
 public:
  live_histogram() : counts_(new std::atomic<std::uint64_t>[buckets::count]) {
    for (std::size_t i = 0; i < buckets::count; ++i)
      counts_[i].store(0, std::memory_order_relaxed);
  }

  void record(std::uint64_t v) {
    bump(counts_[buckets::index_of(v)], 1);
    bump(total_, 1);
    bump(sum_, v);
    if (v > max_.load(std::memory_order_relaxed)) max_.store(v, std::memory_order_relaxed);
    if (v < min_.load(std::memory_order_relaxed)) min_.store(v, std::memory_order_relaxed);
  }

  std::uint64_t count() const { return total_.load(std::memory_order_relaxed); }

  // A copy for reporting; from another thread it is not an exact cut, which a
  // progress line does not need.
  histogram snapshot() const;

 private:
  static void bump(std::atomic<std::uint64_t>& a, std::uint64_t n) {
    a.store(a.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }

  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;
  std::atomic<std::uint64_t> total_{0};
  std::atomic<std::uint64_t> sum_{0};
  std::atomic<std::uint64_t> max_{0};
  std::atomic<std::uint64_t> min_{UINT64_MAX};
};

}  // namespace convoy::sim
