// The placement's hash is part of the cluster's wire contract: every node and
// every build must map a key to the same slice. These values were computed
// from the specification in docs/DESIGN.md ("Placement") by an independent
// implementation; a change here moves every key of a running cluster.

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "actors/placement/slice_directory.hpp"
#include "actors/placement/stable_hash.hpp"
#include "actors/placement/topic_placement.hpp"
#include "cluster/slice_ownership.hpp"

using namespace convoy;
using placement::slice_kind;

TEST_CASE("stable_hash is FNV-1a 64 with the fmix64 finalizer, pinned") {
  CHECK(placement::stable_hash("") == 0xefd01f60ba992926ull);
  CHECK(placement::stable_hash("a") == 0x82a2a958a9bece5bull);
  CHECK(placement::stable_hash("WVWZZZ1JZXW000001") == 0xd8f95321841d4dffull);
  CHECK(placement::stable_hash("CNV00000000000042") == 0x53e479543d4a3f53ull);
  CHECK(placement::stable_hash("vehicles/WVWZZZ1JZXW000001") == 0xfda425c77ebb6a9full);
  CHECK(placement::stable_hash("tcu-42") == 0xfacf361edbf43816ull);
}

TEST_CASE("slice_of takes the high bits: floor(hash * count / 2^64)") {
  CHECK(placement::slice_of("WVWZZZ1JZXW000001", 16) == 13);
  CHECK(placement::slice_of("WVWZZZ1JZXW000001", 7) == 5);
  CHECK(placement::slice_of("CNV00000000000042", 16) == 5);
  CHECK(placement::slice_of("CNV00000000000042", 7) == 2);
  CHECK(placement::slice_of(std::uint64_t{0}, 5) == 0);
  CHECK(placement::slice_of(~std::uint64_t{0}, 5) == 4);
  CHECK(placement::slice_of("anything", 1) == 0);
}

TEST_CASE("topic slices key on the first levels, with the same hash") {
  placement::topic_placement p{16, 2};
  CHECK(p.shard_for_topic("vehicles/WVWZZZ1JZXW000001/telemetry") == 15);
  CHECK(p.shard_for_topic("vehicles/WVWZZZ1JZXW000001") == 15);
  CHECK(p.shard_for_filter("vehicles/WVWZZZ1JZXW000001/#") == 15);
}

TEST_CASE("VINs spread evenly over slices") {
  std::map<std::uint32_t, int> per_slice;
  for (int i = 0; i < 16'000; ++i) {
    char vin[18];
    std::snprintf(vin, sizeof vin, "CNV%014d", i);
    ++per_slice[placement::slice_of(vin, 16)];
  }
  REQUIRE(per_slice.size() == 16);
  for (auto [slice, n] : per_slice) {
    CHECK_MESSAGE(n > 850, "slice " << slice << " has " << n);
    CHECK_MESSAGE(n < 1150, "slice " << slice << " has " << n);
  }
}

TEST_CASE("a slice directory looks keys up through the placement") {
  placement::slice_directory<int> d;
  CHECK(d.empty());
  for (int i = 0; i < 7; ++i)
    d.add(100 + i);
  CHECK(d.size() == 7);
  CHECK(d.slice_for("WVWZZZ1JZXW000001") == 5);
  CHECK(d.for_key("WVWZZZ1JZXW000001") == 105);
  CHECK(d.at(2) == 102);
}

TEST_CASE("rendezvous ownership: pinned, and a leaving member moves only its slices") {
  const std::vector<std::string> three{"node-a", "node-b", "node-c"};
  CHECK(cluster::ranked_members(slice_kind::vehicle, 0, three) ==
        std::vector<std::string>{"node-a", "node-b", "node-c"});
  CHECK(cluster::ranked_members(slice_kind::vehicle, 1, three) ==
        std::vector<std::string>{"node-a", "node-c", "node-b"});
  CHECK(cluster::ranked_members(slice_kind::vehicle, 2, three) ==
        std::vector<std::string>{"node-c", "node-a", "node-b"});
  CHECK(cluster::ranked_members(slice_kind::vehicle, 3, three) ==
        std::vector<std::string>{"node-b", "node-c", "node-a"});
  CHECK(cluster::owner_of(slice_kind::vehicle, 3, three) == "node-b");
  CHECK(cluster::owner_and_replicas(slice_kind::vehicle, 1, three, 1) ==
        std::vector<std::string>{"node-a", "node-c"});
  CHECK(cluster::owner_of(slice_kind::vehicle, 3, {}).empty());

  // The order members are listed in does not matter.
  const std::vector<std::string> shuffled{"node-c", "node-a", "node-b"};
  const std::vector<std::string> two{"node-a", "node-c"};
  int owned_by_b = 0;
  std::map<std::string, int> owned;
  for (std::uint32_t s = 0; s < 1024; ++s) {
    auto before = cluster::owner_of(slice_kind::topic, s, three);
    CHECK(before == cluster::owner_of(slice_kind::topic, s, shuffled));
    auto after = cluster::owner_of(slice_kind::topic, s, two);
    if (before == "node-b") {
      ++owned_by_b;
    } else {
      CHECK_MESSAGE(after == before, "slice " << s << " moved without its owner leaving");
    }
    ++owned[before];
  }
  for (const auto& [member, n] : owned) {
    CHECK_MESSAGE(n > 280, member << " owns " << n);
    CHECK_MESSAGE(n < 400, member << " owns " << n);
  }
  CHECK(owned_by_b == owned["node-b"]);
}
