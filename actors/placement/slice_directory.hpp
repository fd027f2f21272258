#pragma once

#include <cassert>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "actors/placement/stable_hash.hpp"

namespace convoy::placement {

// "The actor for slice N" of one kind (registry shards, consent shards, ...):
// callers look a key up here and never compute a slice themselves. A single
// node fills it with its local shard actors at start; in a cluster the
// entries are the handles of each slice's owner, local or remote, and callers
// do not change. Keys of the vehicle kinds are VINs.
template <class Handle>
class slice_directory {
 public:
  slice_directory() = default;
  explicit slice_directory(std::vector<Handle> handles) : handles_(std::move(handles)) {}

  void add(Handle h) { handles_.push_back(std::move(h)); }

  bool empty() const { return handles_.empty(); }
  std::uint32_t size() const { return static_cast<std::uint32_t>(handles_.size()); }

  std::uint32_t slice_for(std::string_view key) const {
    assert(!handles_.empty());
    return slice_of(key, size());
  }
  const Handle& for_key(std::string_view key) const { return handles_[slice_for(key)]; }
  const Handle& at(std::uint32_t slice) const { return handles_[slice]; }

  const std::vector<Handle>& all() const { return handles_; }
  auto begin() const { return handles_.begin(); }
  auto end() const { return handles_.end(); }

 private:
  std::vector<Handle> handles_;
};

}  // namespace convoy::placement
