#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace convoy::storage {

// The named LMDB databases of one storage environment, one per kind of
// record. Key and value layouts are in record_keys.hpp and the record
// headers; runtime/storage/README.md has the overview.
enum class database : std::uint8_t {
  meta,            // schema version and other facts about the environment
  sessions,        // client id -> stored_session
  messages,        // message id -> stored_message
  queues,          // client id + sequence -> queue_entry
  inflight_in,     // client id + packet id -> inflight_in_entry (incoming QoS 2)
  retained,        // topic -> stored_message
  vehicles,        // VIN -> stored_vehicle (schema version 2)
  consents,        // VIN, subject, purpose -> stored_consent (schema version 3)
  vehicle_states,  // VIN -> stored_vehicle_state (schema version 4)
  commands,        // VIN, command id -> stored_command (schema version 5)
  definitions,     // kind/name -> JSON: rules, webhooks, archives made over the API (schema 6)
};

inline constexpr std::size_t database_count = 11;

inline constexpr std::array<database, database_count> all_databases = {
    database::meta,           database::sessions, database::messages,    database::queues,
    database::inflight_in,    database::retained, database::vehicles,    database::consents,
    database::vehicle_states, database::commands, database::definitions,
};

// The LMDB name of the database, which is also how errors refer to it.
constexpr std::string_view name_of(database db) {
  switch (db) {
    case database::meta:
      return "meta";
    case database::sessions:
      return "sessions";
    case database::messages:
      return "messages";
    case database::queues:
      return "queues";
    case database::inflight_in:
      return "inflight_in";
    case database::retained:
      return "retained";
    case database::vehicles:
      return "vehicles";
    case database::consents:
      return "consents";
    case database::vehicle_states:
      return "vehicle_states";
    case database::commands:
      return "commands";
    case database::definitions:
      return "definitions";
  }
  return "unknown";
}

}  // namespace convoy::storage
