#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

namespace convoy {

// A FIFO that costs nothing while empty: std::deque allocates a chunk even
// when default-constructed, and most sessions of a fleet have empty queues.
template <class T>
class small_fifo {
 public:
  bool empty() const { return head_ == items_.size(); }
  std::size_t size() const { return items_.size() - head_; }
  T& front() { return items_[head_]; }
  void push_back(T value) { items_.push_back(std::move(value)); }
  T pop_front() {
    T value = std::move(items_[head_++]);
    if (head_ == items_.size()) {
      items_.clear();
      head_ = 0;
      if (items_.capacity() > 64) items_.shrink_to_fit();
    } else if (head_ > 64 && head_ * 2 > items_.size()) {
      items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
    return value;
  }
  // Removes the oldest item for which pred is true; false if there is none.
  template <class P>
  bool erase_first_if(P&& pred) {
    for (std::size_t i = head_; i < items_.size(); ++i) {
      if (!pred(items_[i])) continue;
      items_.erase(items_.begin() + static_cast<std::ptrdiff_t>(i));
      if (head_ == items_.size()) clear();
      return true;
    }
    return false;
  }
  // Removes every item for which pred is true, keeping the others' order.
  template <class P>
  std::size_t erase_if(P&& pred) {
    auto first = items_.begin() + static_cast<std::ptrdiff_t>(head_);
    auto kept = std::remove_if(first, items_.end(), pred);
    auto removed = static_cast<std::size_t>(items_.end() - kept);
    items_.erase(kept, items_.end());
    if (head_ == items_.size()) clear();
    return removed;
  }
  void clear() {
    items_ = {};
    head_ = 0;
  }
  template <class F>
  void for_each_mut(F&& f) {
    for (std::size_t i = head_; i < items_.size(); ++i)
      f(items_[i]);
  }
  template <class F>
  void for_each(F&& f) const {
    for (std::size_t i = head_; i < items_.size(); ++i)
      f(items_[i]);
  }

 private:
  std::vector<T> items_;
  std::size_t head_ = 0;
};

}  // namespace convoy
