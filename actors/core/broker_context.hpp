#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <caf/actor.hpp>

#include "actors/core/access_policy.hpp"
#include "actors/core/cluster_standing.hpp"
#include "actors/core/durable_store.hpp"
#include "actors/core/inflow_bound.hpp"
#include "actors/placement/slice_directory.hpp"
#include "actors/placement/topic_placement.hpp"

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
  // Every key-to-actor lookup goes through the placement: a topic to its
  // topic shard, a VIN to the shard of each vehicle service.
  placement::topic_placement topic_placement{1, 1};
  placement::slice_directory<caf::actor> topic_shards;
  store_ptr store;          // null when the node keeps nothing on disk
  caf::actor storage_gate;  // see actors/core/storage_gate.hpp; null without store
  // The device registry, sharded by VIN; with registry_required, vehicles
  // that log in by certificate must be registered, active and connect from
  // an active device.
  placement::slice_directory<caf::actor> registry_shards;
  bool registry_required = false;
  // In a cluster: whether this node is a member now (cluster_standing.hpp);
  // null for a node alone, which always is.
  standing_ptr standing;
  // Consents, sharded by VIN (actors/vehicle/consent_shard.hpp), and the
  // purposes they may be given for.
  placement::slice_directory<caf::actor> consent_shards;
  std::shared_ptr<const class consent_catalog> consent_purposes;
  // Roles whose clients are services: they get telemetry a purpose covers
  // only with the vehicle's consent for their identity.
  std::vector<std::string> consent_service_roles;
  // Last known vehicle state by VIN (actors/vehicle/vehicle_state_shard.hpp);
  // empty without state.enabled. Sessions send them the telemetry the routing
  // rules give to the state.
  placement::slice_directory<caf::actor> state_shards;
  std::vector<inflow_ptr> state_inflows;  // one per state shard, same slice
  // Telemetry routing rules (actors/rules/telemetry_rules.hpp), from
  // rules.file and the management API, with the archives and webhooks they
  // feed.
  std::shared_ptr<class rules_control> rules;
  // Carry out republish rules, by VIN (actors/rules/rule_worker.hpp).
  placement::slice_directory<fed_actor> rule_workers;
  // Remote command workflows' directories, sharded by VIN
  // (actors/vehicle/command_shard.hpp); sessions tell them when vehicles
  // come and go.
  placement::slice_directory<caf::actor> command_shards;
  caf::actor registry_control;  // takes PUBLISHes to the $CONTROL topics
  caf::actor refusal_log;       // recent refusals per client (actors/core/refusal_log.hpp)
  // The authorization policy in force; replaced (inside) when it reloads.
  access_ptr access = std::make_shared<access_control>();

  const caf::actor& shard_for_topic(std::string_view topic) const {
    return topic_shards.at(topic_placement.shard_for_topic(topic));
  }
};

using context_ptr = std::shared_ptr<const broker_context>;

}  // namespace convoy
