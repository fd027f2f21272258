#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <caf/actor.hpp>

#include "actors/access_policy.hpp"
#include "actors/durable_store.hpp"
#include "actors/inflow_bound.hpp"
#include "cluster/placement.hpp"

namespace convoy {

// MQTT limits and features of this node, fixed at start-up.
struct broker_settings {
  std::uint32_t max_packet_size = 1'048'576;
  std::uint16_t receive_maximum = 100;
  std::uint16_t max_inflight_messages = 64;
  std::size_t max_outbound_bytes = 4 * 1'048'576;
  std::uint16_t topic_alias_maximum = 16;
  std::uint16_t max_keep_alive = 3600;
  std::uint16_t default_keep_alive = 0;
  std::uint32_t max_session_expiry = 7 * 86'400;
  std::uint32_t max_queued_messages = 1000;
  std::uint32_t max_queued_bytes = 16 * 1'048'576;
  // QoS 0 messages are queued for offline persistent sessions too (and are
  // the first dropped from a full queue); otherwise only QoS 1/2 are.
  bool queue_qos0_messages = false;
  bool retain_available = true;
  bool wildcard_subscriptions = true;
  bool shared_subscriptions = true;
  bool subscription_identifiers = true;
  std::uint8_t maximum_qos = 2;
  bool jwt_authentication = false;                 // MQTT 5 Authentication Method JWT accepted
  std::uint32_t max_topic_levels = 0;              // 0: no limit
  std::uint32_t max_subscriptions_per_client = 0;  // 0: no limit
};

// What every session of a node shares: settings and where the topic shards
// are. Immutable after start-up, so sessions read it without locks (the
// access policy inside is swapped atomically).
struct broker_context {
  broker_settings settings;
  cluster::topic_placement placement{1, 1};
  std::vector<caf::actor> shards;
  store_ptr store;          // null when the node keeps nothing on disk
  caf::actor storage_gate;  // see actors/storage_gate.hpp; null without store
  // The device registry, sharded by VIN; with registry_required, vehicles
  // that log in by certificate must be registered, active and connect from
  // an active device.
  std::vector<caf::actor> registry_shards;
  bool registry_required = false;
  // Consents, sharded by VIN (actors/consent_shard.hpp), and the purposes
  // they may be given for.
  std::vector<caf::actor> consent_shards;
  std::shared_ptr<const class consent_catalog> consent_purposes;
  // Roles whose clients are services: they get telemetry a purpose covers
  // only with the vehicle's consent for their identity.
  std::vector<std::string> consent_service_roles;
  const caf::actor& consent_shard_for(std::string_view vin) const {
    return consent_shards[std::hash<std::string_view>{}(vin) % consent_shards.size()];
  }
  // Last known vehicle state by VIN (actors/vehicle_state_shard.hpp); empty
  // without state.enabled. Sessions send them the telemetry the routing
  // rules give to the state.
  std::vector<caf::actor> state_shards;
  std::vector<inflow_ptr> state_inflows;  // one per state shard
  std::size_t state_index_for(std::string_view vin) const {
    return std::hash<std::string_view>{}(vin) % state_shards.size();
  }
  // Telemetry routing rules (actors/telemetry_rules.hpp), from rules.file
  // and the management API, with the archives and webhooks they feed.
  std::shared_ptr<class rules_control> rules;
  // Carry out republish rules, by VIN (actors/rule_worker.hpp).
  std::vector<fed_actor> rule_workers;
  const fed_actor& rule_worker_for(std::string_view vin) const {
    return rule_workers[std::hash<std::string_view>{}(vin) % rule_workers.size()];
  }
  // Remote command workflows' directories, sharded by VIN
  // (actors/command_shard.hpp); sessions tell them when vehicles come and go.
  std::vector<caf::actor> command_shards;
  const caf::actor& command_shard_for(std::string_view vin) const {
    return command_shards[std::hash<std::string_view>{}(vin) % command_shards.size()];
  }
  caf::actor registry_control;  // takes PUBLISHes to the $CONTROL topics
  caf::actor refusal_log;       // recent refusals per client (actors/refusal_log.hpp)
  const caf::actor& registry_shard_for(std::string_view vin) const {
    return registry_shards[std::hash<std::string_view>{}(vin) % registry_shards.size()];
  }
  // The authorization policy in force; replaced (inside) when it reloads.
  access_ptr access = std::make_shared<access_control>();

  const caf::actor& shard_for_topic(std::string_view topic) const {
    return shards[placement.shard_for_topic(topic)];
  }
};

using context_ptr = std::shared_ptr<const broker_context>;

}  // namespace convoy
