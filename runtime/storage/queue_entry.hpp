#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/types.hpp"
#include "runtime/storage/storage_result.hpp"

namespace convoy::storage {

// Where an outgoing QoS 1/2 message stands with its client.
enum class delivery_state : std::uint8_t {
  queued = 0,       // not sent yet (packet_id 0)
  sent = 1,         // PUBLISH sent, PUBACK or PUBREC outstanding
  pubrel_sent = 2,  // QoS 2: PUBREC received, PUBREL sent, PUBCOMP outstanding
};

// One message in a session's queue, under queue_key(client_id, sequence).
// The message itself is stored once in `messages` and shared by the queues
// of all its subscribers.
struct queue_entry {
  static constexpr std::uint8_t format_version = 1;

  std::uint64_t message_id = 0;
  mqtt::qos qos = mqtt::qos::at_most_once;  // granted to this subscriber
  std::uint16_t packet_id = 0;              // 0 until sent
  delivery_state state = delivery_state::queued;
  bool retain = false;                          // the RETAIN flag this subscriber sees
  std::vector<std::uint32_t> subscription_ids;  // of the matching subscriptions
  std::uint32_t incarnation = 0;                // of the session it was queued for
  friend bool operator==(const queue_entry&, const queue_entry&) = default;
};

std::string encode_queue_entry(const queue_entry& entry);
storage_result<queue_entry> decode_queue_entry(std::string_view record);

}  // namespace convoy::storage
