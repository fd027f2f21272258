#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "actors/core/messages.hpp"
#include "actors/vehicle/command.hpp"
#include "actors/vehicle/consent.hpp"
#include "actors/vehicle/vehicle_state.hpp"

namespace convoy {

// The node's durable storage as actors see it; runtime/storage/lmdb_store implements
// it. Writes never block the caller: they are committed together with other
// actors' writes (group commit), and `done` runs on the storage's own thread
// once the write is durable (true) or has failed (false, the reason logged
// there), so it should only send a message.
class durable_store {
 public:
  using completion = std::function<void(bool stored)>;

  // A persistent session that must get a routed QoS 1/2 message.
  struct queue_target {
    std::string client_id;
    const delivery* d = nullptr;    // what this subscriber gets: QoS, RETAIN, subscription ids
    std::uint32_t incarnation = 0;  // of the subscriber's session
  };

  virtual ~durable_store() = default;

  // Keeps m as the retained message of its topic; an empty payload deletes
  // the topic's retained message. False, with `done` never called, when the
  // storage is over its bound of pending writes.
  virtual bool save_retained(const app_message& m, completion done) = 0;

  // The retained messages stored, expired ones left out, for start-up.
  virtual std::vector<message_ref> load_retained() = 0;

  // What routing a message changes, in one write: the message under a new
  // storage id with a queue entry for each target (it is deleted with the
  // last one released), and, for a retained message, its topic's retained
  // record. Returns the storage id (0 when there are no targets), or
  // nullopt, with `done` never called, when the storage is over its bound.
  virtual std::optional<std::uint64_t> save_route(const app_message& m, bool store_retained,
                                                  const std::vector<queue_target>& targets,
                                                  completion done) = 0;
  // The client got message `stored_id` under `packet_id` (QoS 2, sent or
  // PUBREL sent), so that after a restart it is resent under the same id.
  virtual bool save_outgoing_stage(const std::string& client_id, std::uint32_t incarnation,
                                   const delivery& d, std::uint16_t packet_id, outgoing_stage stage,
                                   completion done) = 0;
  // The client acknowledged message `stored_id` (PUBACK, PUBCOMP) or it was
  // dropped (expired, refused): its queue entry goes.
  virtual bool release(const std::string& client_id, std::uint64_t stored_id, completion done) = 0;

  // Writes (replaces) the record of a persistent session.
  virtual bool save_session(const session_record& s, completion done) = 0;
  // Deletes a session's record with everything stored for it; `stored_ids`
  // are the messages of its queue and window, which it no longer holds.
  virtual bool erase_session(const std::string& client_id,
                             const std::vector<std::uint64_t>& stored_ids, completion done) = 0;
  // Incoming QoS 2: packet id `packet_id` of `client_id` was received and
  // not yet released, so a resend after a restart is not routed twice.
  virtual bool save_qos2_received(const std::string& client_id, std::uint16_t packet_id,
                                  completion done) = 0;
  virtual bool erase_qos2_received(const std::string& client_id, std::uint16_t packet_id,
                                   completion done) = 0;

  // The device registry: one record per vehicle with its devices. Reads go
  // straight to the storage (a memory-mapped lookup); nullopt when the VIN
  // is not registered or its record is unreadable (logged).
  virtual std::optional<vehicle_record> load_vehicle(const std::string& vin) = 0;
  virtual bool save_vehicle(const vehicle_record& v, completion done) = 0;
  virtual bool erase_vehicle(const std::string& vin, completion done) = 0;
  // Vehicles in VIN order after `after` that `wanted` accepts, at most
  // `limit`; `more` tells whether further ones were seen.
  virtual std::vector<vehicle_record> list_vehicles(
      const std::string& after, std::size_t limit,
      const std::function<bool(const vehicle_record&)>& wanted, bool& more) = 0;

  // Consents, one record per vehicle, subject and purpose. load_consents
  // reads every stored one of a vehicle, expired ones too.
  virtual std::vector<consent_record> load_consents(const std::string& vin) = 0;
  virtual bool save_consent(const consent_record& c, completion done) = 0;
  virtual bool erase_consent(const std::string& vin, const std::string& subject,
                             const std::string& purpose, completion done) = 0;

  // Last known vehicle state, one record per VIN.
  virtual std::optional<vehicle_state> load_vehicle_state(const std::string& vin) = 0;
  virtual bool save_vehicle_state(const vehicle_state& s, completion done) = 0;

  // Remote commands with their timelines, one record per command. At
  // start-up each command shard reads the commands of its vehicles
  // (`wanted` sees the VIN before the record is decoded).
  virtual std::vector<command_record> load_commands(
      const std::function<bool(std::string_view vin)>& wanted) = 0;
  virtual std::optional<command_record> load_command(const std::string& vin,
                                                     const std::string& id) = 0;
  // A vehicle's commands, newest first, older than `before` (an id; empty:
  // from the newest), at most `limit`.
  virtual std::vector<command_record> list_commands(const std::string& vin,
                                                    const std::string& before, std::size_t limit,
                                                    bool& more) = 0;
  virtual bool save_command(const command_record& c, completion done) = 0;
  virtual bool erase_command(const std::string& vin, const std::string& id, completion done) = 0;

  // What the management API defined (routing rules, webhooks, archives), as
  // JSON text keyed by kind and name ("rule/overspeed"), for start-up.
  virtual std::vector<std::pair<std::string, std::string>> load_definitions() = 0;
  virtual bool save_definition(const std::string& key, const std::string& json,
                               completion done) = 0;
  virtual bool erase_definition(const std::string& key, completion done) = 0;

  // Calls `done` once everything submitted before is durable.
  virtual bool sync(completion done) = 0;
  // Every stored session with its queued and in-flight messages, for
  // start-up; the caller drops expired ones. Messages no queue refers to
  // any more are deleted.
  virtual std::vector<session_record> load_sessions() = 0;
};

using store_ptr = std::shared_ptr<durable_store>;

}  // namespace convoy
