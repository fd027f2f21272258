// The fleet simulator's latency histogram, its in-place PUBLISH reader and
// its client ids (examples/sim).

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>

#include "examples/sim/frames.hpp"
#include "examples/sim/histogram.hpp"
#include "examples/sim/naming.hpp"
#include "protocol/decoder.hpp"
#include "protocol/encoder.hpp"
#include "protocol/topic.hpp"

using namespace convoy;
using sim::histogram;
namespace buckets = sim::buckets;

TEST_CASE("sim histogram: buckets are contiguous and narrow") {
  CHECK(buckets::index_of(0) == 0);
  CHECK(buckets::index_of(255) == 255);
  CHECK(buckets::index_of(256) == 256);
  CHECK(buckets::index_of(buckets::max_value) == buckets::count - 1);
  CHECK(buckets::index_of(buckets::max_value * 4) == buckets::count - 1);
  for (std::size_t i = 0; i + 1 < buckets::count; ++i) {
    REQUIRE(buckets::lowest(i) <= buckets::highest(i));
    REQUIRE(buckets::highest(i) + 1 == buckets::lowest(i + 1));
    REQUIRE(buckets::index_of(buckets::lowest(i)) == i);
    REQUIRE(buckets::index_of(buckets::highest(i)) == i);
    // No bucket wider than 1/128 of its values.
    REQUIRE((buckets::highest(i) - buckets::lowest(i)) * 128 <= buckets::lowest(i) + 127);
  }
}

TEST_CASE("sim histogram: exact percentiles below 256 us") {
  histogram h;
  CHECK(h.percentile(50) == 0);
  CHECK(h.max() == 0);
  for (std::uint64_t v = 1; v <= 100; ++v)
    h.record(v);
  CHECK(h.count() == 100);
  CHECK(h.percentile(50) == 50);
  CHECK(h.percentile(90) == 90);
  CHECK(h.percentile(99) == 99);
  CHECK(h.percentile(99.9) == 100);
  CHECK(h.percentile(100) == 100);
  CHECK(h.percentile(0) == 1);
  CHECK(h.min() == 1);
  CHECK(h.max() == 100);
  CHECK(h.mean() == doctest::Approx(50.5));
}

TEST_CASE("sim histogram: large values within 1 percent, never above max") {
  histogram h;
  std::mt19937_64 rng{42};
  std::lognormal_distribution<double> dist{6.0, 1.5};
  std::vector<std::uint64_t> values;
  for (int i = 0; i < 100'000; ++i) {
    auto v = static_cast<std::uint64_t>(dist(rng));
    values.push_back(v);
    h.record(v);
  }
  std::sort(values.begin(), values.end());
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    auto rank = static_cast<std::size_t>(std::ceil(p / 100 * values.size()));
    std::uint64_t exact = values[rank - 1];
    std::uint64_t got = h.percentile(p);
    CHECK(got >= exact);
    CHECK(static_cast<double>(got) <= static_cast<double>(exact) * 1.01 + 1);
  }
  CHECK(h.percentile(100) == values.back());
  CHECK(h.max() == values.back());
  CHECK(h.percentile(50) <= h.percentile(99));
}

TEST_CASE("sim histogram: one huge value, merge and interval") {
  histogram a;
  a.record(10);
  a.record(std::uint64_t{1} << 50);
  CHECK(a.percentile(50) == 10);
  CHECK(a.percentile(100) == a.max());
  CHECK(a.max() == std::uint64_t{1} << 50);

  sim::live_histogram live;
  for (int i = 0; i < 10; ++i)
    live.record(100);
  histogram first = live.snapshot();
  for (int i = 0; i < 10; ++i)
    live.record(1000);
  histogram second = live.snapshot();
  histogram interval = second.since(first);
  CHECK(interval.count() == 10);
  CHECK(interval.percentile(50) >= 1000);
  CHECK(interval.percentile(50) <= 1007);
  CHECK(second.count() == 20);
  CHECK(second.percentile(50) == 100);
  CHECK(second.max() == 1000);

  histogram merged;
  merged.merge(first);
  merged.merge(interval);
  CHECK(merged.count() == 20);
  CHECK(merged.percentile(25) == 100);
}

TEST_CASE("sim publish reader agrees with the codec") {
  for (auto version : {mqtt::protocol_version::v311, mqtt::protocol_version::v5}) {
    for (auto q : {mqtt::qos::at_most_once, mqtt::qos::at_least_once, mqtt::qos::exactly_once}) {
      mqtt::publish_packet p;
      p.topic = "vehicles/CNV00000000000042/telemetry";
      p.qos = q;
      p.packet_id = q == mqtt::qos::at_most_once ? 0 : 4242;
      p.payload = std::string(300, 'z');
      if (version == mqtt::protocol_version::v5) {
        p.props.add(mqtt::property_id::message_expiry_interval, 60u);
        p.props.add_user_property("k", "v");
      }
      auto bytes = mqtt::encode(p, version);
      mqtt::frame_header h;
      REQUIRE(mqtt::peek_frame(bytes, h).complete());
      auto v = sim::parse_publish(bytes, h.header_size, version);
      REQUIRE(v.has_value());
      CHECK(v->qos == static_cast<std::uint8_t>(q));
      CHECK(v->packet_id == p.packet_id);
      CHECK(std::string(v->payload.begin(), v->payload.end()) == p.payload);
      // Truncated: the topic length points past the end.
      auto cut = mqtt::byte_view{bytes}.first(h.header_size + 3);
      CHECK_FALSE(sim::parse_publish(cut, h.header_size, version).has_value());
    }
  }
}

TEST_CASE("sim pre-encoded headers: packet id patched at the right place") {
  for (auto version : {mqtt::protocol_version::v311, mqtt::protocol_version::v5}) {
    mqtt::publish_packet p;
    p.topic = "vehicles/x/telemetry";
    p.qos = mqtt::qos::at_least_once;
    p.packet_id = 1;
    mqtt::byte_buffer header;
    mqtt::encode_publish_header(p, 64, version, header);
    std::size_t at = header.size() - 2 - (version == mqtt::protocol_version::v5 ? 1 : 0);
    header[at] = 0xAB;
    header[at + 1] = 0xCD;
    std::uint8_t payload[64] = {};
    sim::write_stamp({123456789, 7, 99}, payload);
    header.insert(header.end(), payload, payload + 64);
    auto r = mqtt::decode(header, {version});
    REQUIRE(r.complete());
    auto& d = std::get<mqtt::publish_packet>(r.value);
    CHECK(d.packet_id == 0xABCD);
    auto s = sim::read_stamp(reinterpret_cast<const std::uint8_t*>(d.payload.data()));
    CHECK(s.sent_ns == 123456789);
    CHECK(s.vehicle == 7);
    CHECK(s.seq == 99);
  }
  sim::control_frames f{mqtt::protocol_version::v5};
  auto ack = sim::control_frames::with_id(f.puback, 0x0102);
  auto r = mqtt::decode(ack, {mqtt::protocol_version::v5});
  REQUIRE(r.complete());
  CHECK(std::get<mqtt::pub_ack_packet>(r.value).packet_id == 0x0102);
}

TEST_CASE("sim client ids are VIN-like and unique") {
  CHECK(sim::vehicle_id("CNV", 0) == "CNV00000000000000");
  CHECK(sim::vehicle_id("CNV", 1) == "CNV00000000000001");
  CHECK(sim::vehicle_id("CNV", 33) == "CNV00000000000010");
  CHECK(sim::vehicle_id("CNV", 0).size() == 17);
  CHECK(sim::subscriber_id("CNV", 5) == "CNV-S000000000005");
  CHECK(sim::commander_id("CNV", 0) == "CNV-C000000000000");
  CHECK(sim::command_topic("V1", 0) == "vehicles/V1/commands/lock");
  CHECK(sim::command_topic("V1", 6) == "vehicles/V1/commands/climate");
  CHECK(mqtt::topic_matches(sim::command_filter("V1"), sim::command_topic("V1", 3)));
  CHECK_FALSE(mqtt::topic_matches(sim::command_filter("V2"), sim::command_topic("V1", 3)));
  // A 3.1.1 response is one level below the command: no vehicle hears its own answer.
  std::string response = sim::command_topic("V1", 1) + std::string{sim::response_suffix_v311};
  CHECK(mqtt::topic_matches(sim::response_filter_v311, response));
  CHECK_FALSE(mqtt::topic_matches(sim::command_filter("V1"), response));
  CHECK(sim::response_topic("CNV-C000000000000") == "backend/CNV-C000000000000/responses");
  std::set<std::string> ids;
  for (std::uint32_t i = 0; i < 20'000; ++i) {
    auto id = sim::vehicle_id("CNV", i * 7919);
    CHECK(id.find_first_of("IOQ", 3) == std::string::npos);
    ids.insert(id);
  }
  CHECK(ids.size() == 20'000);
  CHECK(sim::vehicle_id("ABCDEFGHIJK", 1'000'000'000).size() >= 17);
  CHECK(sim::vehicle_id("ABCDEFGHIJK", 1'000'000'000) != sim::vehicle_id("ABCDEFGHIJK", 0));
  CHECK(sim::substitute_vin("v/{vin}/t/{vin}", "X") == "v/X/t/X");
  CHECK(sim::substitute_vin("v/+/t", "X") == "v/+/t");
  auto a = sim::source_address(0);
  CHECK((a == std::array<std::uint8_t, 4>{127, 1, 0, 1}));
  a = sim::source_address(254);
  CHECK((a == std::array<std::uint8_t, 4>{127, 1, 1, 1}));
  a = sim::source_address(253);
  CHECK((a == std::array<std::uint8_t, 4>{127, 1, 0, 254}));
}
