// Routing between two members: each has its own topic shard, session
// registry and sessions in its own actor system, and the two shards of the
// slice meet over CAF's io middleman on loopback, as the cluster agent
// introduces them in a node.

#include <chrono>
#include <set>
#include <thread>

#include <doctest/doctest.h>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/send.hpp>

#include "actors/core/messages.hpp"
#include "actors/core/metrics.hpp"
#include "actors/routing/peer_routes.hpp"
#include "actors/routing/session_registry.hpp"
#include "actors/routing/topic_shard.hpp"
#include "recording_sink.hpp"

using namespace convoy;

namespace {

struct member_config : caf::actor_system_config {
  member_config() {
    register_message_types(*this);
    load<caf::io::middleman>();
  }
};

// One member: an actor system with one topic shard and a session registry.
struct member {
  member_config cfg;
  caf::actor_system system{cfg};
  caf::actor shard = system.spawn(topic_shard, std::uint32_t{0}, store_ptr{});
  caf::actor registry;
  std::uint16_t port = 0;

  member() {
    auto ctx = std::make_shared<broker_context>();
    ctx->topic_placement = placement::topic_placement{1, 2};
    ctx->topic_shards.add(shard);
    registry = system.spawn(session_registry, context_ptr{ctx});
    auto published = system.middleman().publish(shard, 0, "127.0.0.1");
    REQUIRE(published);
    port = *published;
  }
  ~member() {
    caf::anon_send_exit(registry, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(shard, caf::exit_reason::user_shutdown);
  }

  caf::actor remote_shard_of(member& other) {
    auto remote = system.middleman().remote_actor("127.0.0.1", other.port);
    REQUIRE(remote);
    return *remote;
  }

  // Introduces the other member's shard to this one, as the agent does.
  void meet(member& other, std::uint32_t window_messages = 1000) {
    caf::anon_send(shard,
                   peer_shard{"other", remote_shard_of(other), window_messages, 4 * 1'048'576});
  }

  // Where the slice's retained messages live, as the agent says.
  void home_here(std::int64_t epoch) {
    caf::anon_send(shard, slice_home{"self", epoch, shard, nullptr});
  }
  void home_at(member& other, std::int64_t epoch) {
    caf::anon_send(shard, slice_home{"other", epoch, remote_shard_of(other), nullptr});
  }
  void no_home() { caf::anon_send(shard, slice_home{"", 0, nullptr, nullptr}); }
  // This member becomes the home, taking the retained messages over from
  // the one that was.
  void home_from(member& previous, std::int64_t epoch) {
    caf::anon_send(shard, slice_home{"self", epoch, shard, remote_shard_of(previous)});
  }

  std::shared_ptr<test::recording_sink> connect(const std::string& client_id) {
    connection_params p;
    p.version = mqtt::protocol_version::v5;
    p.client_id = client_id;
    p.clean_start = true;
    auto sink = std::make_shared<test::recording_sink>();
    caf::anon_send(registry, connect_request{p, sink});
    REQUIRE(sink->next<mqtt::connack_packet>());
    return sink;
  }
};

void subscribe(test::recording_sink& sink, const std::string& filter,
               mqtt::qos qos = mqtt::qos::at_least_once) {
  caf::anon_send(sink.session(), sink.id(), mqtt::subscribe_packet{1, {{filter, {qos}}}, {}});
  REQUIRE(sink.next<mqtt::suback_packet>());
}

mqtt::publish_packet message(const std::string& topic, const std::string& payload,
                             mqtt::qos qos = mqtt::qos::at_least_once, std::uint16_t id = 1) {
  mqtt::publish_packet p;
  p.topic = topic;
  p.payload = payload;
  p.qos = qos;
  p.packet_id = qos == mqtt::qos::at_most_once ? 0 : id;
  return p;
}

// Publishes at QoS 1 and returns the PUBACK's reason.
mqtt::reason_code publish_acked(test::recording_sink& sink, const std::string& topic,
                                const std::string& payload, std::uint16_t id = 1) {
  caf::anon_send(sink.session(), sink.id(), message(topic, payload, mqtt::qos::at_least_once, id));
  auto ack = sink.next<mqtt::pub_ack_packet>();
  REQUIRE(ack);
  return ack->reason;
}

}  // namespace

TEST_CASE("a message published on one member reaches the subscribers of another, once per member") {
  member a;
  member b;
  a.meet(b);
  b.meet(a);
  auto sub1 = b.connect("sub-1");
  auto sub2 = b.connect("sub-2");
  subscribe(*sub1, "vehicles/+/telemetry");
  subscribe(*sub2, "vehicles/VIN1/#", mqtt::qos::at_most_once);
  auto pub = a.connect("pub");

  // The SUBACKs waited for member a to take the filters: a message published
  // there right after them reaches both.
  CHECK(publish_acked(*pub, "vehicles/VIN1/telemetry", "42") == mqtt::reason_code::success);
  auto got1 = sub1->next<mqtt::publish_packet>();
  REQUIRE(got1);
  CHECK(got1->payload == "42");
  CHECK(got1->qos == mqtt::qos::at_least_once);
  auto got2 = sub2->next<mqtt::publish_packet>();
  REQUIRE(got2);
  CHECK(got2->qos == mqtt::qos::at_most_once);  // its own subscription's QoS, applied on b

  // QoS 0 travels in batches.
  caf::anon_send(pub->session(), pub->id(),
                 message("vehicles/VIN2/telemetry", "q0", mqtt::qos::at_most_once));
  auto q0 = sub1->next<mqtt::publish_packet>();
  REQUIRE(q0);
  CHECK(q0->payload == "q0");

  // Nothing on a matches a topic only b's sessions would not want.
  CHECK(publish_acked(*pub, "fleet/other", "x", 2) == mqtt::reason_code::no_matching_subscribers);

  // Unsubscribed on b: gone on a too.
  caf::anon_send(sub1->session(), sub1->id(),
                 mqtt::unsubscribe_packet{5, {"vehicles/+/telemetry"}, {}});
  REQUIRE(sub1->next<mqtt::unsuback_packet>());
  caf::anon_send(sub2->session(), sub2->id(), mqtt::unsubscribe_packet{6, {"vehicles/VIN1/#"}, {}});
  REQUIRE(sub2->next<mqtt::unsuback_packet>());
  // Whether a has b's withdrawal yet or not, b has no subscriber left: the
  // PUBACK says so either way.
  CHECK(publish_acked(*pub, "vehicles/VIN3/telemetry", "late", 3) ==
        mqtt::reason_code::no_matching_subscribers);
}

TEST_CASE("a shared subscription gets each message once across members, on the publisher's first") {
  member a;
  member b;
  a.meet(b);
  b.meet(a);
  auto remote_member = b.connect("worker-b");
  subscribe(*remote_member, "$share/jobs/work/#");
  auto pub = a.connect("pub");
  for (std::uint16_t i = 1; i <= 4; ++i)
    CHECK(publish_acked(*pub, "work/item", std::to_string(i), i) == mqtt::reason_code::success);
  for (int i = 1; i <= 4; ++i) {
    auto got = remote_member->next<mqtt::publish_packet>();
    REQUIRE(got);
    CHECK(got->payload == std::to_string(i));
  }

  // With a member on the publisher's node, the group's messages stay there.
  auto local_member = a.connect("worker-a");
  subscribe(*local_member, "$share/jobs/work/#");
  for (std::uint16_t i = 5; i <= 8; ++i)
    CHECK(publish_acked(*pub, "work/item", std::to_string(i), i) == mqtt::reason_code::success);
  for (int i = 5; i <= 8; ++i) {
    auto got = local_member->next<mqtt::publish_packet>();
    REQUIRE(got);
    CHECK(got->payload == std::to_string(i));
  }
  CHECK_FALSE(remote_member->next<mqtt::publish_packet>(std::chrono::milliseconds(200)));
}

TEST_CASE("a member that meets another late learns every filter it already holds") {
  member a;
  member b;
  auto sub = b.connect("early");
  subscribe(*sub, "alerts/#");
  a.meet(b);
  b.meet(a);  // b sends its snapshot to a
  auto pub = a.connect("pub");
  // The snapshot and a's introduction race; a's route for the filter exists
  // once b's snapshot is in, which a QoS 1 publish retried a few times sees.
  mqtt::reason_code rc = mqtt::reason_code::no_matching_subscribers;
  for (std::uint16_t i = 1; i <= 50 && rc != mqtt::reason_code::success; ++i) {
    rc = publish_acked(*pub, "alerts/door", "open", i);
    if (rc != mqtt::reason_code::success)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(rc == mqtt::reason_code::success);
  REQUIRE(sub->next<mqtt::publish_packet>());
}

TEST_CASE("a member whose shard dies loses its routes; a full window drops QoS 0, counted") {
  member a;
  member b;
  a.meet(b, 1);  // a may have one route on its way to b
  b.meet(a);
  auto sub = b.connect("sub");
  subscribe(*sub, "t/#", mqtt::qos::at_most_once);
  auto pub = a.connect("pub");
  REQUIRE(publish_acked(*pub, "t/first", "x") == mqtt::reason_code::success);
  REQUIRE(sub->next<mqtt::publish_packet>());

  const auto dropped_before = metrics::get(counter::dropped_peer_window);
  constexpr int offered = 2000;
  for (int i = 0; i < offered; ++i)
    caf::anon_send(pub->session(), pub->id(),
                   message("t/flood", std::to_string(i), mqtt::qos::at_most_once));
  // Once b has acknowledged what got through, the window is open again, and
  // the QoS 1 publish after the flood follows it on both links.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  REQUIRE(publish_acked(*pub, "t/last", "x", 2) == mqtt::reason_code::success);
  int received = 0;
  while (auto got = sub->next<mqtt::publish_packet>(std::chrono::milliseconds(500)))
    if (got->topic == "t/last")
      break;
    else
      ++received;
  const auto dropped = metrics::get(counter::dropped_peer_window) - dropped_before;
  CHECK(dropped > 0);
  CHECK(received + static_cast<int>(dropped) == offered);

  caf::anon_send_exit(b.shard, caf::exit_reason::kill);
  // a's shard sees b's go (a down message over the link) and forgets b's routes.
  mqtt::reason_code rc = mqtt::reason_code::success;
  for (std::uint16_t i = 3; i <= 60 && rc == mqtt::reason_code::success; ++i) {
    rc = publish_acked(*pub, "t/after", "x", i);
    if (rc == mqtt::reason_code::success)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(rc == mqtt::reason_code::no_matching_subscribers);
}

TEST_CASE("retained messages live with the slice's home, whichever member they are published on") {
  member a;
  member b;
  a.meet(b);
  b.meet(a);
  a.home_here(7);
  b.home_at(a, 7);
  auto pub = b.connect("pub");
  mqtt::publish_packet retained = message("status/car1", "parked");
  retained.retain = true;
  caf::anon_send(pub->session(), pub->id(), retained);
  auto ack = pub->next<mqtt::pub_ack_packet>();
  REQUIRE(ack);
  // No subscriber matched, but the home has it: the answer says so only
  // through its reason, and the message is kept.
  CHECK(ack->reason == mqtt::reason_code::no_matching_subscribers);

  // A subscriber on the home and one on b both receive it on subscribe.
  for (member* m : {&a, &b}) {
    auto sub = m->connect(m == &a ? "on-home" : "on-b");
    subscribe(*sub, "status/#");
    auto got = sub->next<mqtt::publish_packet>();
    REQUIRE(got);
    CHECK(got->retain);
    CHECK(got->payload == "parked");
  }

  // A member that no longer knows a reachable home keeps the retained write
  // waiting, and completes it once the home is known again.
  b.no_home();
  retained.payload = "moving";
  retained.packet_id = 2;
  caf::anon_send(pub->session(), pub->id(), retained);
  CHECK_FALSE(pub->next<mqtt::pub_ack_packet>(std::chrono::milliseconds(300)));
  b.home_at(a, 7);
  auto late = pub->next<mqtt::pub_ack_packet>();
  REQUIRE(late);
  CHECK(late->packet_id == 2);
  // The subscribers above still match it.
  CHECK(late->reason == mqtt::reason_code::success);
  auto check = a.connect("check");
  subscribe(*check, "status/car1");
  auto now = check->next<mqtt::publish_packet>();
  REQUIRE(now);
  CHECK(now->payload == "moving");

  // A write fenced with an epoch the home does not have (one of the two
  // views of the claims lags) is sent again until the views agree...
  b.home_at(a, 6);
  retained.payload = "fenced";
  retained.packet_id = 3;
  caf::anon_send(pub->session(), pub->id(), retained);
  CHECK_FALSE(pub->next<mqtt::pub_ack_packet>(std::chrono::milliseconds(600)));
  b.home_at(a, 7);
  auto agreed = pub->next<mqtt::pub_ack_packet>();
  REQUIRE(agreed);
  CHECK(agreed->packet_id == 3);
  CHECK(agreed->reason == mqtt::reason_code::success);
  // ... and refused once it has waited peer_answer_timeout.
  b.home_at(a, 6);
  retained.payload = "stale";
  retained.packet_id = 4;
  caf::anon_send(pub->session(), pub->id(), retained);
  auto refused = pub->next<mqtt::pub_ack_packet>(std::chrono::seconds(8));
  REQUIRE(refused);
  CHECK(refused->packet_id == 4);
  CHECK(refused->reason == mqtt::reason_code::implementation_specific_error);
}

TEST_CASE("a slice's new home takes its retained messages over from the previous one") {
  member a;
  member b;
  a.meet(b);
  b.meet(a);
  a.home_here(1);
  b.home_at(a, 1);
  auto pub = a.connect("pub");
  for (std::uint16_t i = 1; i <= 3; ++i) {
    auto m = message("status/car" + std::to_string(i), "v" + std::to_string(i),
                     mqtt::qos::at_least_once, i);
    m.retain = true;
    caf::anon_send(pub->session(), pub->id(), m);
    REQUIRE(pub->next<mqtt::pub_ack_packet>());
  }
  // The slice moves to b (a new epoch): b takes the messages from a, and a
  // lets go of them.
  a.home_at(b, 2);
  b.home_from(a, 2);
  auto on_b = b.connect("on-b");
  subscribe(*on_b, "status/#");
  std::set<std::string> got;
  for (int i = 0; i < 3; ++i) {
    auto m = on_b->next<mqtt::publish_packet>();
    REQUIRE(m);
    CHECK(m->retain);
    got.insert(m->payload);
  }
  CHECK(got == std::set<std::string>{"v1", "v2", "v3"});
  auto on_a = a.connect("on-a");  // asks b, the home now
  subscribe(*on_a, "status/car2");
  auto two = on_a->next<mqtt::publish_packet>();
  REQUIRE(two);
  CHECK(two->payload == "v2");
  // a handed them over and kept nothing: as a home again without a
  // previous one to take them from, it has none.
  a.home_here(3);
  auto again = a.connect("again");
  subscribe(*again, "status/#");
  CHECK_FALSE(again->next<mqtt::publish_packet>(std::chrono::milliseconds(300)));
}
