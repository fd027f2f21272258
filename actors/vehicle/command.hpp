#pragma once

// Remote commands (lock the doors, start the climate, ...): the record each
// command workflow (actors/vehicle/command_workflow.hpp) keeps and stores, and the
// messages between the API, the command shards and the workflows.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/actor.hpp>
#include <caf/meta/type_name.hpp>

#include "actors/core/messages.hpp"

namespace convoy {

// Where a command is. The first five are on the way; the rest are terminal.
enum class command_status : std::uint8_t {
  received = 0,     // stored, checks not yet done
  queued = 1,       // the vehicle is offline: held until it connects or the TTL ends
  sent = 2,         // published to the vehicle, no report yet
  accepted = 3,     // the vehicle said it will do it
  in_progress = 4,  // the vehicle is doing it
  succeeded = 5,
  failed = 6,        // the vehicle could not, with its detail
  rejected = 7,      // unknown or suspended vehicle, no consent, unknown command
  timed_out = 8,     // sent, and no final report within the timeout
  expired = 9,       // the vehicle stayed offline past the store-and-forward TTL (or had none)
  interrupted = 10,  // the vehicle's connection ended before its final report
  cancelled = 11,
};

inline constexpr std::uint8_t last_command_status = 11;

bool is_terminal(command_status s);
std::string_view to_string(command_status s);
// "accepted", "in_progress" (or "in-progress"), "succeeded", "failed": the
// reports a vehicle may make.
std::optional<command_status> vehicle_report_status(std::string_view s);

// One line of a command's audit timeline.
struct command_event {
  epoch_ms at = 0;
  command_status status = command_status::received;
  std::string detail;  // why, or what the vehicle said (JSON text for reports)
};

struct command_record {
  std::string id;  // unique, sorts by creation time
  std::string vin;
  std::string name;          // "lock-doors"
  std::string params;        // JSON text (an object)
  std::string requested_by;  // the subject consent is checked for
  std::string idempotency_key;
  epoch_ms created_at = 0;
  std::uint32_t timeout_ms = 30'000;  // from sending to a final report
  std::uint32_t ttl_ms = 0;           // how long to hold it for an offline vehicle
  epoch_ms sent_at = 0;               // 0: not (yet) sent
  command_status status = command_status::received;
  std::string result;  // JSON text: the detail of the vehicle's last report
  std::vector<command_event> timeline;

  // Until when an offline vehicle may still get it.
  epoch_ms deliver_by() const { return created_at + ttl_ms; }
  // Until when a sent command may report.
  epoch_ms deadline() const { return sent_at + timeout_ms; }
};

// API -> command shard of the VIN: start a command (id, created_at,
// status and timeline are filled in there). Answered with command_reply:
// created true for a new command, false when the idempotency key named an
// earlier one (error set when that one was for something else).
struct command_submit {
  command_record request;
};

// API -> command shard: the command as it is now. With wait_ms > 0 and a
// command still on its way whose timeline has at most `seen` events (
// unseen_all: as many as it has now), the answer waits for its next event
// or wait_ms (a long poll).
struct command_get {
  std::string vin;
  std::string id;
  static constexpr std::uint32_t unseen_all = 0xFFFFFFFFu;
  std::uint32_t wait_ms = 0;
  std::uint32_t seen = unseen_all;
};

// API -> command shard. Answered with command_reply (error: not found or
// already finished).
struct command_cancel {
  std::string vin;
  std::string id;
  std::string by;
};

struct command_reply {
  bool ok = false;
  bool created = false;
  std::uint16_t status = 200;  // the HTTP status that fits when !ok (404, 409, 429, 503)
  std::string error;
  command_record record;
};

// API -> command shard: a vehicle's commands, newest first.
struct command_list_request {
  std::string vin;
  std::string before;  // an id: only older ones
  std::uint32_t limit = 50;
};
struct command_list {
  std::vector<command_record> records;
  bool more = false;
};

// Session -> command shard of the VIN: a connection of the vehicle opened
// or closed. The shard counts them, so the order of messages from an old
// and a new session of one vehicle does not matter.
struct vehicle_presence {
  std::string vin;
  bool online = false;
};

// Command shard -> workflow.
struct presence_changed {
  bool online = false;
};
struct command_report {
  command_status status = command_status::accepted;
  std::string detail;   // JSON text
  std::string problem;  // set when the report could not be read: why
};

// Workflow -> its shard: its record changed (after every event).
struct command_changed {
  command_record record;
};

// Command shard -> the VIN's command shard: a status report that the
// shared subscription brought to another shard.
struct command_report_forward {
  message_ref msg;
};

// The command shards of a node, each told all of them (for reports that
// arrive at one shard for another's vehicle).
struct command_shards {
  std::vector<caf::actor> shards;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, command_event& x) {
  return f(caf::meta::type_name("command_event"), x.at, x.status, x.detail);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, command_record& x) {
  return f(caf::meta::type_name("command_record"), x.id, x.vin, x.name, x.params, x.requested_by,
           x.idempotency_key, x.created_at, x.timeout_ms, x.ttl_ms, x.sent_at, x.status, x.result,
           x.timeline);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, command_submit& x) {
  return f(caf::meta::type_name("command_submit"), x.request);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, command_get& x) {
  return f(caf::meta::type_name("command_get"), x.vin, x.id, x.wait_ms, x.seen);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, command_cancel& x) {
  return f(caf::meta::type_name("command_cancel"), x.vin, x.id, x.by);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, command_reply& x) {
  return f(caf::meta::type_name("command_reply"), x.ok, x.created, x.status, x.error, x.record);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, command_list_request& x) {
  return f(caf::meta::type_name("command_list_request"), x.vin, x.before, x.limit);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, command_list& x) {
  return f(caf::meta::type_name("command_list"), x.records, x.more);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, vehicle_presence& x) {
  return f(caf::meta::type_name("vehicle_presence"), x.vin, x.online);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, presence_changed& x) {
  return f(caf::meta::type_name("presence_changed"), x.online);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, command_report& x) {
  return f(caf::meta::type_name("command_report"), x.status, x.detail, x.problem);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, command_changed& x) {
  return f(caf::meta::type_name("command_changed"), x.record);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, command_report_forward& x) {
  return f(caf::meta::type_name("command_report_forward"), x.msg);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, command_shards& x) {
  return f(caf::meta::type_name("command_shards"), x.shards);
}

}  // namespace convoy
