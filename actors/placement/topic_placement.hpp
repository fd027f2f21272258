#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace convoy::placement {

// Topic-space slicing (the topic kind of slices; keys hash with stable_hash). A topic belongs to
// the shard picked by its first `key_levels` levels, so vehicles/{vin}/... of one vehicle stay
// together and different vehicles spread out. A filter whose first `key_levels` levels hold no
// wildcard can only match topics of one shard; any other filter must be known to every shard.
class topic_placement {
 public:
  topic_placement(std::uint32_t shard_count, std::uint32_t key_levels);

  std::uint32_t shard_count() const { return shard_count_; }

  std::uint32_t shard_for_topic(std::string_view topic) const;

  // The one shard the (non-shared part of a) filter can match in, or nullopt
  // when it needs every shard.
  std::optional<std::uint32_t> shard_for_filter(std::string_view filter) const;

 private:
  // The first key_levels levels of a topic, or all of it when shorter.
  std::string_view key_of(std::string_view topic) const;

  std::uint32_t shard_count_;
  std::uint32_t key_levels_;
};

}  // namespace convoy::placement
