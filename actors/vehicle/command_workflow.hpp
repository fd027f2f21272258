#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include <caf/event_based_actor.hpp>
#include <caf/response_promise.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/core/broker_context.hpp"
#include "actors/vehicle/command.hpp"

namespace convoy {

// What the command shards and workflows of a node are told at start-up
// ([commands] in the configuration).
struct command_settings {
  // Where each event of a command is announced; {vin}, {id}, {name} and
  // {subject} stand for the command's values. Empty: no announcements.
  std::string notification_topic = "services/commands/{vin}/{id}";
  bool require_consent = true;
  std::int64_t retention_ms = 7LL * 86'400'000;
  std::uint32_t max_active = 100'000;  // per node, commands on their way
  std::uint32_t max_active_per_vehicle = 16;
  std::chrono::milliseconds check_timeout{5000};  // registry and consent answers
};

// The topics of a command: the vehicle gets it on
// vehicles/{vin}/commands/{name} and reports on
// vehicles/{vin}/command-status/{id} (MQTT 5: the Response Topic; the
// Correlation Data is the id).
std::string command_topic(const command_record& c);
std::string command_status_topic(const command_record& c);
// What the vehicle gets: {"id", "command", "params", "timeoutSeconds",
// "responseTopic"}, for MQTT 3.1.1 vehicles, which see no properties.
std::string command_payload(const command_record& c);

// One remote command from its submission to a terminal state:
//
//   received --checks--> rejected
//            \--------> queued (offline, TTL) --connect--> sent
//             \-------> sent (online) --reports--> accepted / in_progress
//                                     --final report--> succeeded / failed
//   queued: TTL over -> expired (also at once without a TTL)
//   sent, accepted, in_progress: timeout -> timed_out; the vehicle's last
//   connection closes -> interrupted; any state on the way: cancel -> cancelled
//
// Every event is appended to the timeline, stored, told to the shard (for
// readers and long polls) and announced on the notification topic. A
// workflow restored after a restart resumes where its record says: timers
// run to the stored deadlines, and a command sent but never acknowledged
// is sent again (same id) when the vehicle reconnects.
struct command_workflow_state {
  context_ptr ctx;
  caf::actor shard;
  command_settings settings;
  command_record record;
  bool online = false;
  bool route_pending = false;  // a send waits for the topic shard's answer
  int retries = 0;             // sends that found no subscriber while online
  std::uint32_t timer_generation = 0;
  caf::response_promise submitter;  // the API's request, answered once the first decision is stored
  bool answer_pending = false;
  static inline const char* name = "command_workflow";
};

using command_workflow_actor = caf::stateful_actor<command_workflow_state>;

// `fresh`: a new submission (its command_submit request follows, delegated
// by the shard); otherwise a command restored from storage.
caf::behavior command_workflow(command_workflow_actor* self, command_record record, context_ptr ctx,
                               caf::actor shard, command_settings settings, bool online,
                               bool fresh);

}  // namespace convoy
