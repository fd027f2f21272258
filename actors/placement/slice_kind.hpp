#pragma once

#include <cstdint>
#include <string_view>

namespace convoy::placement {

// The key spaces the node is sliced by. Each kind has a fixed number of
// slices; a key's slice is slice_of(key, count) (stable_hash.hpp).
enum class slice_kind : std::uint8_t {
  topic,    // the first broker.shard_key_levels levels of a topic
  vehicle,  // a VIN: registry, consent, state, command and rule-worker shards
  client,   // an MQTT client id: the session directory
};

constexpr std::string_view to_string(slice_kind k) {
  switch (k) {
    case slice_kind::topic:
      return "topic";
    case slice_kind::vehicle:
      return "vehicle";
    case slice_kind::client:
      return "client";
  }
  return "?";
}

}  // namespace convoy::placement
