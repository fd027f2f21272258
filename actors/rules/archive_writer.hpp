#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/blocking_actor.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/response_promise.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/core/inflow_bound.hpp"
#include "actors/core/messages.hpp"

namespace convoy {

// An archive of telemetry: append-only segment files in `directory`, one
// JSON line per message ({"at", "topic", "qos", "payload"} or
// "payloadBase64" for bytes that are not UTF-8), rotated by size and age.
// With gzip, every batch written is one complete gzip member, so a segment
// stays readable (zcat) up to its last batch even after a crash.
struct archive_spec {
  std::string name;
  std::string directory;
  bool gzip = false;
  std::uint64_t max_segment_bytes = 64ull << 20;
  std::uint32_t max_segment_seconds = 3600;
  std::uint32_t flush_ms = 200;               // a batch waits at most this long
  bool sync = true;                           // fdatasync each batch before acknowledging it
  std::size_t max_pending_bytes = 16u << 20;  // unwritten bytes beyond which appends are refused
  bool operator==(const archive_spec&) const = default;
};

// Session -> archive writer. As a request (QoS 1/2 messages whose only
// destination is the archive) answered with true once the batch holding
// it is written (and synced), false when it could not be.
struct archive_append {
  message_ref msg;
};

// Rule book -> archive writer: its definition changed; the next batch
// opens a segment with the new settings.
struct archive_reconfigure {
  archive_spec spec;
};

struct archive_writer_state {
  archive_spec spec;
  inflow_ptr inflow;
  std::string batch;  // JSON lines not yet written
  std::vector<caf::response_promise> waiting;
  bool flush_armed = false;
  int fd = -1;
  std::string segment;  // path of the open segment
  std::uint64_t segment_bytes = 0;
  std::int64_t segment_opened_ms = 0;
  std::uint32_t sequence = 0;  // segments opened by this writer
  static inline const char* name = "archive_writer";
};

using archive_writer_actor = caf::stateful_actor<archive_writer_state>;

// Spawned detached (a thread of its own): it writes files.
caf::behavior archive_writer(archive_writer_actor* self, archive_spec spec, inflow_ptr inflow);

// The JSON line an archive keeps for a message (no newline).
std::string archive_line(const app_message& m);

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, archive_spec& x) {
  return f(caf::meta::type_name("archive_spec"), x.name, x.directory, x.gzip, x.max_segment_bytes,
           x.max_segment_seconds, x.flush_ms, x.sync, x.max_pending_bytes);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, archive_reconfigure& x) {
  return f(caf::meta::type_name("archive_reconfigure"), x.spec);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, archive_append& x) {
  return f(caf::meta::type_name("archive_append"), x.msg);
}

}  // namespace convoy
