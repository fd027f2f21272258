#include <doctest/doctest.h>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>

#include <algorithm>
#include <set>

#include "actors/placement/stable_hash.hpp"
#include "actors/placement/topic_placement.hpp"
#include "actors/routing/subscription_index.hpp"
#include "actors/routing/topic_shard.hpp"
#include "protocol/topic.hpp"

using namespace convoy;

namespace {

struct fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  caf::actor spawn_dummy() {
    // CAF 0.17 spawns argument-less function actors through a null
    // shared_ptr (UBSan reports it), so the dummy takes an argument.
    return sys.spawn([](caf::event_based_actor*, int) -> caf::behavior { return {[](int) {}}; }, 0);
  }
  ~fixture() {
    for (auto& a : dummies)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  }
  std::vector<caf::actor> dummies;
  caf::actor make() {
    dummies.push_back(spawn_dummy());
    return dummies.back();
  }
};

subscriber_entry entry(const caf::actor& a, const std::string& client,
                       mqtt::qos q = mqtt::qos::at_most_once, std::uint32_t id = 0) {
  subscriber_entry e;
  e.session = a;
  e.client_id = client;
  e.options.max_qos = q;
  e.subscription_id = id;
  return e;
}

std::multiset<std::string> matches(subscription_index& index, std::string_view topic) {
  std::multiset<std::string> out;
  index.match(
      topic, [&](const subscriber_entry& e) { out.insert(e.client_id); },
      [&](const subscriber_entry& e, std::string_view) { out.insert("shared:" + e.client_id); });
  return out;
}

}  // namespace

TEST_CASE_FIXTURE(fixture, "subscription index matches like topic_matches") {
  subscription_index index;
  const std::vector<std::string> filters = {"#",     "+",     "a/#",  "a/+",   "a/b",
                                            "+/b",   "a/+/c", "/+",   "+/+",   "$SYS/#",
                                            "a/b/#", "+/+/+", "a//c", "$SYS/+"};
  for (std::size_t i = 0; i < filters.size(); ++i) {
    auto e = entry(make(), filters[i]);
    CHECK(index.insert(filters[i], e));
  }
  CHECK(index.size() == filters.size());
  for (std::string topic : {"a", "a/b", "a/b/c", "/x", "x/b", "$SYS/load", "$SYS", "a//c", "b"}) {
    std::multiset<std::string> expected;
    for (const auto& f : filters)
      if (mqtt::topic_matches(f, topic)) expected.insert(f);
    CHECK_MESSAGE(matches(index, topic) == expected, topic);
  }
}

TEST_CASE_FIXTURE(fixture, "subscription index replaces, erases and forgets sessions") {
  subscription_index index;
  auto a = make();
  auto b = make();
  CHECK(index.insert("x/+", entry(a, "a", mqtt::qos::at_most_once)));
  CHECK_FALSE(index.insert("x/+", entry(a, "a", mqtt::qos::exactly_once)));  // replaced
  CHECK(index.insert("x/y", entry(b, "b")));
  CHECK(index.insert("x/#", entry(a, "a")));
  CHECK(index.size() == 3);
  CHECK(matches(index, "x/y") == std::multiset<std::string>{"a", "a", "b"});
  CHECK(index.erase("x/+", a.address()));
  CHECK_FALSE(index.erase("x/+", a.address()));
  CHECK_FALSE(index.erase("never/subscribed", b.address()));
  CHECK(index.erase_all(a.address()).size() == 1);
  CHECK(matches(index, "x/y") == std::multiset<std::string>{"b"});
  CHECK_FALSE(index.has_subscriber(a.address()));
  CHECK(index.erase("x/y", b.address()));
  CHECK(index.size() == 0);
  CHECK(matches(index, "x/y").empty());
}

TEST_CASE_FIXTURE(fixture, "shared groups deliver round robin, one member per group") {
  subscription_index index;
  auto a = make();
  auto b = make();
  auto c = make();
  index.insert("$share/g1/t/+", entry(a, "a"));
  index.insert("$share/g1/t/+", entry(b, "b"));
  index.insert("$share/g2/t/#", entry(c, "c"));
  std::multiset<std::string> seen;
  for (int i = 0; i < 10; ++i) {
    auto m = matches(index, "t/1");
    CHECK(m.size() == 2);  // one of g1, the one of g2
    CHECK(m.count("shared:c") == 1);
    seen.insert(m.begin(), m.end());
  }
  CHECK(seen.count("shared:a") == 5);
  CHECK(seen.count("shared:b") == 5);
  CHECK(index.erase("$share/g1/t/+", a.address()));
  CHECK(matches(index, "t/1") == std::multiset<std::string>{"shared:b", "shared:c"});
}

TEST_CASE_FIXTURE(fixture, "keyed shared groups send one vehicle's messages to one member") {
  subscription_index index;
  std::vector<std::string> names = {"s0", "s1", "s2", "s3"};
  for (const auto& n : names)
    index.insert("$share/convoy-by-vin-x/vehicles/+/telemetry/#", entry(make(), n));
  for (std::string vin : {"VIN1", "VIN2", "WVWZZZ1JZXW000001", "A"}) {
    // The member whose index is the VIN's slice, every time: no round robin.
    std::string owner = "shared:" + names[placement::slice_of(vin, 4)];
    for (int i = 0; i < 5; ++i)
      CHECK(matches(index, "vehicles/" + vin + "/telemetry/speed") ==
            std::multiset<std::string>{owner});
  }
  CHECK(second_level("vehicles/V/telemetry") == "V");
  CHECK(second_level("single") == "");
  CHECK(is_keyed_group("convoy-by-vin-state"));
  CHECK_FALSE(is_keyed_group("fleet"));
}

TEST_CASE_FIXTURE(fixture, "deliveries merge a session's overlapping subscriptions") {
  subscription_index index;
  auto a = make();
  auto b = make();
  index.insert("v/+/t", entry(a, "a", mqtt::qos::at_most_once, 1));
  index.insert("v/#", entry(a, "a", mqtt::qos::exactly_once, 2));
  index.insert("v/1/t", entry(b, "b", mqtt::qos::at_least_once));
  auto msg = std::make_shared<app_message>();
  msg->topic = "v/1/t";
  msg->qos = mqtt::qos::at_least_once;
  msg->publisher = "b";
  auto plan = plan_deliveries(index, message_ref{msg});
  REQUIRE(plan.size() == 2);
  for (auto& [session, d, client_id, shared_filter] : plan) {
    CHECK(shared_filter.empty());
    CHECK(*client_id == (session == a ? "a" : "b"));
    if (session == a) {
      CHECK(d.qos == mqtt::qos::at_least_once);  // min(message QoS, best subscription)
      auto ids = d.subscription_ids;
      std::sort(ids.begin(), ids.end());
      CHECK(ids == std::vector<std::uint32_t>{1, 2});
    } else {
      CHECK(session == b);
    }
  }
  SUBCASE("no local skips the publisher's own subscription") {
    index.insert("v/1/t", [&] {
      auto e = entry(b, "b", mqtt::qos::at_least_once);
      e.options.no_local = true;
      return e;
    }());
    auto plan2 = plan_deliveries(index, message_ref{msg});
    REQUIRE(plan2.size() == 1);
    CHECK(plan2[0].session == a);
  }
}

TEST_CASE_FIXTURE(fixture, "the index knows which filters it holds, and names each shared group") {
  subscription_index index;
  auto a = make();
  auto b = make();
  index.insert("v/+/t", entry(a, "a"));
  index.insert("v/+/t", entry(b, "b"));
  index.insert("$share/g/v/#", entry(a, "a"));
  index.insert("$share/h/v/#", entry(b, "b"));
  CHECK(index.holds("v/+/t"));
  CHECK(index.holds("$share/g/v/#"));
  CHECK_FALSE(index.holds("v/#"));  // only shared subscriptions to it
  CHECK_FALSE(index.holds("$share/x/v/#"));
  CHECK_FALSE(index.holds("v/+"));
  auto filters = index.filters();
  std::sort(filters.begin(), filters.end());
  CHECK(filters == std::vector<std::string>{"$share/g/v/#", "$share/h/v/#", "v/+/t"});

  auto msg = std::make_shared<app_message>();
  msg->topic = "v/1/t";
  msg->qos = mqtt::qos::at_least_once;
  auto plan = plan_deliveries(index, message_ref{msg});
  std::multiset<std::string> shared;
  for (const auto& p : plan)
    if (!p.shared_filter.empty()) shared.emplace(p.shared_filter);
  CHECK(shared == std::multiset<std::string>{"$share/g/v/#", "$share/h/v/#"});
  // A peer's route names the groups this node serves: the others are not
  // delivered here.
  std::vector<std::string> only{"$share/h/v/#"};
  auto routed = plan_deliveries(index, message_ref{msg}, &only);
  std::size_t shared_routed = 0;
  for (const auto& p : routed)
    if (!p.shared_filter.empty()) {
      ++shared_routed;
      CHECK(p.shared_filter == "$share/h/v/#");
      CHECK(p.session == b);
    }
  CHECK(shared_routed == 1);
  CHECK(routed.size() == 3);  // a and b directly, b for group h

  auto removed = index.erase_all(a.address());
  std::sort(removed.begin(), removed.end());
  CHECK(removed == std::vector<std::string>{"$share/g/v/#", "v/+/t"});
  CHECK(index.holds("v/+/t"));  // b still does
  CHECK_FALSE(index.holds("$share/g/v/#"));
}

TEST_CASE("placement keeps one vehicle's topics on one shard and spreads wildcards") {
  placement::topic_placement p{16, 2};
  auto s = p.shard_for_topic("vehicles/VIN1/telemetry");
  CHECK(p.shard_for_topic("vehicles/VIN1/commands/lock") == s);
  CHECK(p.shard_for_topic("vehicles/VIN1") == s);
  CHECK(p.shard_for_filter("vehicles/VIN1/#") == s);
  CHECK(p.shard_for_filter("vehicles/VIN1/commands/+") == s);
  CHECK_FALSE(p.shard_for_filter("vehicles/+/telemetry").has_value());
  CHECK_FALSE(p.shard_for_filter("vehicles/#").has_value());
  CHECK_FALSE(p.shard_for_filter("#").has_value());
  CHECK(p.shard_for_filter("a") == p.shard_for_topic("a"));
  std::set<std::uint32_t> used;
  for (int i = 0; i < 200; ++i)
    used.insert(p.shard_for_topic("vehicles/VIN" + std::to_string(i) + "/t"));
  CHECK(used.size() == 16);

  // Property: a topic matched by a single-shard filter lives on that shard.
  placement::topic_placement one_level{7, 1};
  for (std::string topic : {"a", "a/b", "a/b/c", "b/c"})
    for (std::string filter : {"a/#", "a/b", "a/+", "a", "a/b/#"})
      if (mqtt::topic_matches(filter, topic))
        if (auto shard = one_level.shard_for_filter(filter))
          CHECK_MESSAGE(*shard == one_level.shard_for_topic(topic), filter << " " << topic);
}
