#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "runtime/storage/storage_result.hpp"

namespace convoy::storage {

// Keys of the stored records. LMDB sorts keys bytewise, and the layouts are
// chosen so that a cursor walks them in the order the broker needs: a
// client's queue by sequence, its incoming QoS 2 ids by packet id.
//
// Client ids and topics may be up to 65535 bytes but an LMDB key at most
// 511, so a name longer than long_name_threshold is keyed by its first
// long_name_threshold bytes plus its SHA-256 (name_key). Such keys are still
// unique and stable, and stay contiguous per client; the record itself keeps
// the full name.

inline constexpr std::size_t long_name_threshold = 200;
inline constexpr std::size_t sha256_size = 32;

// The name as it appears in keys: unchanged up to long_name_threshold bytes,
// otherwise long_name_threshold bytes of it and its SHA-256
// (long_name_threshold + sha256_size bytes, a length no unchanged name has).
std::string name_key(std::string_view name);

// sessions: name_key(client_id).
std::string session_key(std::string_view client_id);

// messages: the message id, big-endian, so ids sort numerically.
std::string message_key(std::uint64_t message_id);
storage_result<std::uint64_t> message_id_of(std::string_view key);

// queues: one length byte, name_key(client_id), the sequence number
// big-endian. The length byte keeps one client's entries together: without
// it, "ab"'s entries would sort between "a"'s.
std::string queue_key(std::string_view client_id, std::uint64_t sequence);
// The common start of every queue key of client_id, for scans and erase_prefix.
std::string queue_prefix(std::string_view client_id);
storage_result<std::uint64_t> queue_sequence_of(std::string_view key);

// inflight_in: one length byte, name_key(client_id), the packet id big-endian.
std::string inflight_in_key(std::string_view client_id, std::uint16_t packet_id);
std::string inflight_in_prefix(std::string_view client_id);
storage_result<std::uint16_t> inflight_in_packet_id_of(std::string_view key);

// retained: name_key(topic).
std::string retained_key(std::string_view topic);

}  // namespace convoy::storage
