#include <doctest/doctest.h>

#include <algorithm>

#include "cluster/slice_claims.hpp"
#include "cluster/slice_ownership.hpp"

using namespace convoy;
using namespace convoy::cluster;
using placement::slice_kind;

namespace {

const std::vector<slice_claims::kind_count> kinds = {{slice_kind::topic, 8},
                                                     {slice_kind::vehicle, 4}};

etcd::key_value claim_kv(slice_id id, const std::string& node, std::int64_t incarnation,
                         std::int64_t epoch) {
  return {claim_key("eu1", id), claim_value(node, incarnation), epoch, epoch, 1};
}

std::size_t count(const std::vector<slice_claims::action>& plan, slice_claims::action::verb v) {
  return std::count_if(plan.begin(), plan.end(), [v](const auto& a) { return a.what == v; });
}

}  // namespace

TEST_CASE("slice claims: keys and values") {
  CHECK(claim_key("eu1", {slice_kind::vehicle, 3}) == "/convoy/eu1/owners/vehicle/3");
  CHECK(claim_value("a", 7) == R"({"incarnation":7,"node":"a"})");
}

TEST_CASE("slice claims: a member alone claims every slice, once each") {
  slice_claims c("eu1", kinds);
  auto plan = c.plan("a", 5, {"a"});
  CHECK(plan.size() == 12);
  CHECK(count(plan, slice_claims::action::verb::claim) == 12);
  // The claims come back through the read: nothing left to do.
  std::vector<etcd::key_value> kvs;
  std::int64_t epoch = 10;
  for (const auto& a : plan)
    kvs.push_back(claim_kv(a.id, "a", 5, epoch++));
  kvs.push_back({"/convoy/eu1/members/a", "{}", 5, 5, 1});                       // not a claim
  kvs.push_back({"/convoy/eu1/owners/topic/8", claim_value("a", 5), 3, 3, 1});   // no such slice
  kvs.push_back({"/convoy/eu1/owners/client/0", claim_value("a", 5), 3, 3, 1});  // no such kind
  c.snapshot(kvs);
  CHECK(c.claims().size() == 12);
  CHECK(c.plan("a", 5, {"a"}).empty());
  CHECK(c.claims().at({slice_kind::vehicle, 0}).epoch == 18);
}

TEST_CASE("slice claims: a joining member waits until the old owner releases") {
  slice_claims c("eu1", kinds);
  std::vector<etcd::key_value> kvs;
  for (std::uint32_t s = 0; s < 8; ++s)
    kvs.push_back(claim_kv({slice_kind::topic, s}, "a", 5, 10 + s));
  for (std::uint32_t s = 0; s < 4; ++s)
    kvs.push_back(claim_kv({slice_kind::vehicle, s}, "a", 5, 20 + s));
  c.snapshot(kvs);
  const std::vector<std::string> both{"a", "b"};
  auto for_a = c.plan("a", 5, both);
  auto for_b = c.plan("b", 6, both);
  // b claims nothing while a holds everything; a lets go of b's slices.
  CHECK(for_b.empty());
  std::size_t bs = 0;
  for (const auto& [kind, n] : kinds)
    for (std::uint32_t s = 0; s < n; ++s)
      if (owner_of(kind, s, both) == "b") ++bs;
  REQUIRE(bs > 0);
  CHECK(for_a.size() == bs);
  CHECK(count(for_a, slice_claims::action::verb::release) == bs);
  for (const auto& a : for_a) {
    CHECK(owner_of(a.id.kind, a.id.slice, both) == "b");
    CHECK(a.epoch == c.claims().at(a.id).epoch);
    // The release shows in the watch; then b claims it.
    CHECK(c.apply({true, {claim_key("eu1", a.id), {}, 0, 99, 0}}));
  }
  auto then = c.plan("b", 6, both);
  CHECK(then.size() == bs);
  CHECK(count(then, slice_claims::action::verb::claim) == bs);
}

TEST_CASE("slice claims: a claim of an earlier incarnation is not this node's to release") {
  slice_claims c("eu1", kinds);
  c.snapshot({claim_kv({slice_kind::topic, 0}, "a", 5, 10)});
  // a came back as incarnation 9; its old lease still holds topic/0 but b
  // owns it now: a must not delete what its old self holds (its lease
  // ends it), and b waits for that.
  CHECK(c.plan("a", 9, {"b"}).empty());
  CHECK(c.table({"a", "b"}).front().claim->incarnation == 5);
}

TEST_CASE("slice claims: the table names owner, successor and holder") {
  slice_claims c("eu1", kinds);
  c.snapshot({claim_kv({slice_kind::topic, 1}, "x", 2, 40)});
  auto rows = c.table({"a", "b", "c"});
  REQUIRE(rows.size() == 12);
  CHECK(rows[1].id == slice_id{slice_kind::topic, 1});
  auto ranked = ranked_members(slice_kind::topic, 1, {"a", "b", "c"});
  CHECK(rows[1].owner == ranked[0]);
  CHECK(rows[1].successor == ranked[1]);
  REQUIRE(rows[1].claim);
  CHECK(rows[1].claim->node == "x");
  CHECK_FALSE(rows[0].claim);
  CHECK(c.table({"a"})[0].successor.empty());
}
