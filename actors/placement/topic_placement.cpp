#include "actors/placement/topic_placement.hpp"

#include <cassert>

#include "actors/placement/stable_hash.hpp"

namespace convoy::placement {

topic_placement::topic_placement(std::uint32_t shard_count, std::uint32_t key_levels)
    : shard_count_(shard_count), key_levels_(key_levels) {
  assert(shard_count_ > 0 && key_levels_ > 0);
}

std::string_view topic_placement::key_of(std::string_view topic) const {
  std::size_t pos = 0;
  for (std::uint32_t level = 0; level < key_levels_; ++level) {
    pos = topic.find('/', pos);
    if (pos == std::string_view::npos) return topic;
    if (level + 1 < key_levels_) ++pos;
  }
  return topic.substr(0, pos);
}

std::uint32_t topic_placement::shard_for_topic(std::string_view topic) const {
  return slice_of(key_of(topic), shard_count_);
}

std::optional<std::uint32_t> topic_placement::shard_for_filter(std::string_view filter) const {
  std::string_view key = key_of(filter);
  if (key.find_first_of("+#") != std::string_view::npos) return std::nullopt;
  // "a/#" with a single key level: the key "a" holds no wildcard, but the
  // filter also matches topic "a" itself, whose key is "a" as well. A filter
  // shorter than the key ending in '#', e.g. "a/#" with two key levels, is
  // caught above because '#' falls inside the key.
  return slice_of(key, shard_count_);
}

}  // namespace convoy::placement
