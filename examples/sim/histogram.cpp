#include "examples/sim/histogram.hpp"

#include <algorithm>
#include <cmath>

namespace convoy::sim {

std::uint64_t histogram::percentile(double p) const {
  if (total_ == 0) return 0;
  p = std::clamp(p, 0.0, 100.0);
  auto rank = static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(total_)));
  rank = std::clamp<std::uint64_t>(rank, 1, total_);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      // The last bucket also holds everything beyond max_value.
      if (i == counts_.size() - 1) return max_;
      return std::min(buckets::highest(i), max_);
    }
  }
  return max_;
}

void histogram::merge(const histogram& other) {
  for (std::size_t i = 0; i < counts_.size(); ++i)
    counts_[i] += other.counts_[i];
  total_ += other.total_;
  sum_ += other.sum_;
  max_ = std::max(max_, other.max_);
  min_ = std::min(min_, other.min_);
}

histogram histogram::since(const histogram& earlier) const {
  histogram d;
  d.max_ = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    std::uint64_t n = counts_[i] >= earlier.counts_[i] ? counts_[i] - earlier.counts_[i] : 0;
    if (n == 0) continue;
    d.counts_[i] = n;
    d.total_ += n;
    d.min_ = std::min(d.min_, buckets::lowest(i));
    d.max_ = std::max(d.max_, buckets::highest(i));
  }
  d.sum_ = sum_ >= earlier.sum_ ? sum_ - earlier.sum_ : 0;
  if (d.total_ > 0) d.max_ = std::min(d.max_, max_);
  return d;
}

histogram live_histogram::snapshot() const {
  histogram h;
  for (std::size_t i = 0; i < buckets::count; ++i)
    h.counts_[i] = counts_[i].load(std::memory_order_relaxed);
  // Sum the buckets rather than read total_, so percentiles see a consistent count.
  for (auto n : h.counts_)
    h.total_ += n;
  h.sum_ = sum_.load(std::memory_order_relaxed);
  h.max_ = max_.load(std::memory_order_relaxed);
  h.min_ = min_.load(std::memory_order_relaxed);
  // A value counted before max_ was updated: keep percentiles below max.
  if (h.total_ > 0) {
    for (std::size_t i = buckets::count; i-- > 0;) {
      if (h.counts_[i] != 0) {
        h.max_ = std::max(h.max_, buckets::lowest(i));
        break;
      }
    }
  }
  return h;
}

}  // namespace convoy::sim
