// Vehicle state: which fields a telemetry message sets, and the stored
// state record's round trip.

#include <doctest/doctest.h>

#include "actors/vehicle/vehicle_state.hpp"
#include "runtime/storage/stored_vehicle_state.hpp"

using namespace convoy;

namespace {

// app_message holds a mutex: built in place, read through a reference.
std::shared_ptr<app_message> make(std::string topic, std::string payload) {
  auto m = std::make_shared<app_message>();
  m->topic = std::move(topic);
  m->payload = std::make_shared<const std::string>(std::move(payload));
  return m;
}

}  // namespace

TEST_CASE("vehicle state: JSON leaves become fields named by topic and keys") {
  auto r = read_telemetry(
      *make("vehicles/VIN1/telemetry/battery", R"({"soc": 81, "temp": {"cell": 21.5}})"), 5);
  CHECK(r.vin == "VIN1");
  REQUIRE(r.fields.size() == 2);
  CHECK(r.fields[0].name == "battery.soc");
  CHECK(r.fields[0].value == "81");
  CHECK(r.fields[0].at == 5);
  CHECK(r.fields[1].name == "battery.temp.cell");
  CHECK(r.fields[1].value == "21.5");

  auto top = read_telemetry(*make("vehicles/VIN1/telemetry", R"({"speed": 50, "gear": "D"})"), 1);
  REQUIRE(top.fields.size() == 2);
  CHECK(top.fields[0].name == "gear");
  CHECK(top.fields[0].value == "\"D\"");

  auto text = read_telemetry(*make("vehicles/VIN1/telemetry/doors/front", "locked"), 1);
  REQUIRE(text.fields.size() == 1);
  CHECK(text.fields[0].name == "doors.front");
  CHECK(text.fields[0].value == "\"locked\"");
  auto number = read_telemetry(*make("vehicles/VIN1/telemetry/odometer", "12345"), 1);
  CHECK(number.fields[0].value == "12345");

  // Nothing: binary payloads, other topics, no VIN, a bare value without a field name.
  CHECK(read_telemetry(*make("vehicles/VIN1/telemetry/x", std::string("\xff\xfe", 2)), 1).vin ==
        "");
  CHECK(read_telemetry(*make("vehicles/VIN1/commands/lock", "{\"a\":1}"), 1).vin == "");
  CHECK(read_telemetry(*make("vehicles//telemetry", "{\"a\":1}"), 1).vin == "");
  CHECK(read_telemetry(*make("vehicles/VIN1/telemetryx", "{\"a\":1}"), 1).vin == "");
  CHECK(read_telemetry(*make("vehicles/VIN1/telemetry", "42"), 1).vin == "");
}

TEST_CASE("stored vehicle state: round trip, corrupt records refused") {
  storage::stored_vehicle_state s{"VIN1", 7, {{"a", "1", 5}, {"b", "\"x\"", 6}}, {{"a", "0", 4}}};
  auto bytes = storage::encode_vehicle_state(s);
  auto back = storage::decode_vehicle_state(bytes);
  REQUIRE(back.has_value());
  CHECK(*back == s);
  for (std::size_t cut = 0; cut < bytes.size(); ++cut)
    CHECK_FALSE(storage::decode_vehicle_state(bytes.substr(0, cut)).has_value());
}
