// Location transparency: a topic shard in a second actor system, reached
// through CAF's io middleman over loopback, serves sessions exactly like a
// local one.

#include <doctest/doctest.h>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/send.hpp>

#include "actors/core/messages.hpp"
#include "actors/routing/session_registry.hpp"
#include "actors/routing/topic_shard.hpp"
#include "recording_sink.hpp"

using namespace convoy;

namespace {

struct node_config_for_test : caf::actor_system_config {
  node_config_for_test() {
    register_message_types(*this);
    load<caf::io::middleman>();
  }
};

connection_params params_for(const std::string& client_id) {
  connection_params p;
  p.version = mqtt::protocol_version::v5;
  p.client_id = client_id;
  p.clean_start = true;
  return p;
}

}  // namespace

TEST_CASE("a topic shard in another actor system serves subscribe, publish and delivery") {
  node_config_for_test cfg_a;
  caf::actor_system shard_node{cfg_a};
  auto shard = shard_node.spawn(topic_shard, std::uint32_t{0}, convoy::store_ptr{});
  auto port = shard_node.middleman().publish(shard, 0, "127.0.0.1");
  REQUIRE(port);

  node_config_for_test cfg_b;
  caf::actor_system session_node{cfg_b};
  auto remote_shard = session_node.middleman().remote_actor("127.0.0.1", *port);
  REQUIRE(remote_shard);
  auto ctx = std::make_shared<broker_context>();
  ctx->topic_placement = placement::topic_placement{1, 2};
  ctx->topic_shards.add(*remote_shard);
  auto registry = session_node.spawn(session_registry, context_ptr{ctx});
  // Actor systems wait for their actors on destruction: stop them even when
  // a REQUIRE below ends the test early.
  struct stop_on_exit {
    std::vector<caf::actor> actors;
    ~stop_on_exit() {
      for (auto& a : actors)
        caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    }
  } stopper{{registry, shard}};

  auto sub_sink = std::make_shared<test::recording_sink>();
  caf::anon_send(registry, connect_request{params_for("subscriber"), sub_sink});
  REQUIRE(sub_sink->next<mqtt::connack_packet>());
  mqtt::subscribe_packet subscribe{7, {{"vehicles/+/telemetry", {mqtt::qos::at_least_once}}}, {}};
  subscribe.props.add(mqtt::property_id::subscription_identifier, 42u);
  caf::anon_send(sub_sink->session(), sub_sink->id(), subscribe);
  auto suback = sub_sink->next<mqtt::suback_packet>();
  REQUIRE(suback);
  CHECK(suback->packet_id == 7);
  CHECK(suback->reasons == std::vector{mqtt::reason_code::granted_qos_1});

  auto pub_sink = std::make_shared<test::recording_sink>();
  caf::anon_send(registry, connect_request{params_for("publisher"), pub_sink});
  REQUIRE(pub_sink->next<mqtt::connack_packet>());
  mqtt::publish_packet publish;
  publish.topic = "vehicles/VIN0001/telemetry";
  publish.payload = R"({"speed":42})";
  publish.qos = mqtt::qos::at_least_once;
  publish.packet_id = 3;
  publish.props.add_user_property("priority", "high");
  caf::anon_send(pub_sink->session(), pub_sink->id(), publish);

  auto puback = pub_sink->next<mqtt::pub_ack_packet>();
  REQUIRE(puback);
  CHECK(puback->packet_id == 3);
  CHECK(puback->reason == mqtt::reason_code::success);  // one subscriber matched, remotely

  auto delivered = sub_sink->next<mqtt::publish_packet>();
  REQUIRE(delivered);
  CHECK(delivered->topic == "vehicles/VIN0001/telemetry");
  CHECK(delivered->payload == R"({"speed":42})");
  CHECK(delivered->qos == mqtt::qos::at_least_once);
  CHECK(delivered->props.user_properties() == std::vector<mqtt::string_pair>{{"priority", "high"}});
  CHECK(delivered->props.numbers(mqtt::property_id::subscription_identifier) ==
        std::vector<std::uint32_t>{42});

  // Retained messages live in the remote shard too.
  mqtt::publish_packet retained;
  retained.topic = "vehicles/VIN0002/telemetry";
  retained.payload = "last";
  retained.retain = true;
  caf::anon_send(pub_sink->session(), pub_sink->id(), retained);
  auto late_sink = std::make_shared<test::recording_sink>();
  caf::anon_send(registry, connect_request{params_for("late"), late_sink});
  REQUIRE(late_sink->next<mqtt::connack_packet>());
  // The retained publish went out as QoS 0 without an answer; the shard
  // processes messages in order, so a subscribe sent after it sees it.
  REQUIRE(sub_sink->next<mqtt::publish_packet>());
  caf::anon_send(
      late_sink->session(), late_sink->id(),
      mqtt::subscribe_packet{1, {{"vehicles/VIN0002/#", {mqtt::qos::at_most_once}}}, {}});
  REQUIRE(late_sink->next<mqtt::suback_packet>());
  auto replay = late_sink->next<mqtt::publish_packet>();
  REQUIRE(replay);
  CHECK(replay->retain);
  CHECK(replay->payload == "last");
}
