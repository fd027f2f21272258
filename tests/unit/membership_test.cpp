#include <doctest/doctest.h>

#include "cluster/membership.hpp"

using namespace convoy::cluster;
using namespace std::chrono_literals;
using clock_type = membership::clock;

namespace {

const std::string prefix = members_prefix("eu1");

etcd::key_value member_kv(const std::string& node, std::int64_t incarnation,
                          std::int64_t mod_revision = 0) {
  member_record m{node, 0, "127.0.0.1", 4370, 1883, 0, 0, "v"};
  return {prefix + node, member_value(m), incarnation, mod_revision ? mod_revision : incarnation,
          1};
}

etcd::watch_message::event put(const std::string& node, std::int64_t revision) {
  return {false, member_kv(node, revision)};
}

etcd::watch_message::event removal(const std::string& node, std::int64_t revision) {
  return {true, {prefix + node, {}, 0, revision, 0}};
}

membership registered_member(clock_type::time_point t0, std::int64_t incarnation = 5) {
  membership m("a", prefix);
  m.lease_granted(77, 4s, t0);
  m.registered(incarnation, t0);
  return m;
}

}  // namespace

TEST_CASE("membership: joining, then a member with authority until 3/4 of the TTL") {
  auto t0 = clock_type::now();
  membership m("a", prefix);
  CHECK(m.phase() == membership_phase::joining);
  CHECK_FALSE(m.has_authority(t0));
  m.lease_granted(77, 4s, t0);
  CHECK(m.phase() == membership_phase::joining);
  m.registered(5, t0);
  CHECK(m.phase() == membership_phase::member);
  CHECK(m.incarnation() == 5);
  CHECK(m.has_authority(t0 + 2999ms));
  CHECK_FALSE(m.has_authority(t0 + 3000ms));
}

TEST_CASE("membership: a TTL of a few seconds keeps its fraction (milliseconds, not seconds)") {
  auto t0 = clock_type::now();
  membership m("a", prefix);
  m.lease_granted(77, 2s, t0);
  m.registered(5, t0);
  CHECK(m.has_authority(t0 + 1499ms));
  CHECK_FALSE(m.has_authority(t0 + 1500ms));
}

TEST_CASE("membership: a late renewal steps the node down before the lease can expire") {
  auto t0 = clock_type::now();
  auto m = registered_member(t0);
  CHECK_FALSE(m.tick(t0 + 1s));
  m.renewed(4, t0 + 1s);  // authority now until t0 + 4s
  CHECK_FALSE(m.tick(t0 + 3500ms));
  CHECK(m.tick(t0 + 4s));
  CHECK(m.phase() == membership_phase::stepped_down);
  CHECK_FALSE(m.has_authority(t0 + 4s));
  CHECK_FALSE(m.tick(t0 + 5s));  // once
  // An answer from etcd that the lease is still there: a member again,
  // same incarnation.
  m.renewed(1, t0 + 5s);
  CHECK(m.phase() == membership_phase::member);
  CHECK(m.incarnation() == 5);
  CHECK(m.has_authority(t0 + 7s));
}

TEST_CASE("membership: renewals coming back out of order never shorten the authority") {
  auto t0 = clock_type::now();
  auto m = registered_member(t0);
  m.renewed(4, t0 + 2s);
  m.renewed(4, t0 + 1s);
  CHECK(m.has_authority(t0 + 4900ms));
}

TEST_CASE("membership: a lease etcd no longer has means joining again, with a new incarnation") {
  auto t0 = clock_type::now();
  auto m = registered_member(t0);
  m.renewed(0, t0 + 1s);
  CHECK(m.phase() == membership_phase::joining);
  CHECK(m.lease() == 0);
  CHECK(m.incarnation() == 0);
  CHECK_FALSE(m.has_authority(t0 + 1s));
  m.lease_granted(78, 4s, t0 + 2s);
  m.registered(9, t0 + 2s);
  CHECK(m.incarnation() == 9);
  CHECK(m.has_authority(t0 + 4s));
}

TEST_CASE("membership: the member table from a snapshot and watch events") {
  auto t0 = clock_type::now();
  auto m = registered_member(t0, 5);
  m.snapshot({member_kv("a", 5), member_kv("b", 3), {prefix + "junk", "x", 4, 4, 0}}, 6);
  CHECK(m.members().size() == 2);
  CHECK(m.revision() == 6);
  CHECK_FALSE(m.apply(put("c", 6)));  // the snapshot already reflects revision 6
  CHECK(m.apply(put("c", 7)));
  CHECK(m.members().size() == 3);
  CHECK(m.members().at("c").incarnation == 7);
  CHECK(m.apply(removal("b", 8)));
  CHECK_FALSE(m.members().contains("b"));
  CHECK_FALSE(m.apply(removal("b", 9)));  // not a member any more
  CHECK(m.phase() == membership_phase::member);
  // A member joining again: a new incarnation under the same name.
  CHECK(m.apply(put("c", 10)));
  CHECK(m.members().at("c").incarnation == 10);
}

TEST_CASE("membership: the keys of one revision (a lease's, deleted together) all apply") {
  auto t0 = clock_type::now();
  auto m = registered_member(t0, 5);
  m.snapshot({member_kv("a", 5), member_kv("b", 3), member_kv("c", 4)}, 6);
  CHECK(m.apply(removal("b", 7)));
  CHECK(m.apply(removal("c", 7)));
  CHECK(m.members().size() == 1);
  CHECK(m.revision() == 7);
  CHECK_FALSE(m.fresh(removal("b", 6)));
}

TEST_CASE("membership: the deletion of this node's own key ends its incarnation") {
  auto t0 = clock_type::now();
  auto m = registered_member(t0, 5);
  m.snapshot({member_kv("a", 5)}, 5);
  CHECK(m.apply(removal("a", 6)));
  CHECK(m.phase() == membership_phase::joining);
  CHECK_FALSE(m.has_authority(t0));
}

TEST_CASE("membership: a deletion seen after joining again does not end the new incarnation") {
  auto t0 = clock_type::now();
  auto m = registered_member(t0, 5);
  m.snapshot({member_kv("a", 5)}, 5);
  m.renewed(0, t0);  // the lease is gone: join again
  m.lease_granted(78, 4s, t0);
  m.registered(9, t0);
  // The watch now delivers the old key's deletion (6), then the new key (9).
  CHECK(m.apply(removal("a", 6)));
  CHECK(m.phase() == membership_phase::member);
  CHECK(m.apply(put("a", 9)));
  CHECK(m.members().at("a").incarnation == 9);
}

TEST_CASE("membership: a snapshot without this node's key means its lease expired unseen") {
  auto t0 = clock_type::now();
  auto m = registered_member(t0, 5);
  m.snapshot({member_kv("b", 3)}, 4);  // read before the registration: proves nothing
  CHECK(m.phase() == membership_phase::member);
  m.snapshot({member_kv("b", 3)}, 12);
  CHECK(m.phase() == membership_phase::joining);
}

TEST_CASE("membership: leaving ignores what etcd still says") {
  auto t0 = clock_type::now();
  auto m = registered_member(t0, 5);
  m.snapshot({member_kv("a", 5)}, 5);
  m.leave();
  CHECK(m.apply(removal("a", 6)));
  CHECK(m.phase() == membership_phase::leaving);
  m.lease_granted(80, 4s, t0);
  CHECK(m.phase() == membership_phase::leaving);
  CHECK_FALSE(m.has_authority(t0));
}
