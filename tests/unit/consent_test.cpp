// Consent: the purpose catalog's matching, the purposes file and its
// errors, and the stored consent record's round trip.

#include <doctest/doctest.h>

#include "actors/vehicle/consent_catalog.hpp"
#include "runtime/node/purpose_file.hpp"
#include "runtime/storage/stored_consent.hpp"

using namespace convoy;

TEST_CASE("consent catalog: purposes cover their vehicle's topics and their commands") {
  auto catalog = consent_catalog::builtin();
  const auto* location = catalog.find("location");
  REQUIRE(location);
  CHECK(consent_catalog::covers_topic(*location, "VIN1", "vehicles/VIN1/telemetry/location"));
  CHECK(consent_catalog::covers_topic(*location, "VIN1", "vehicles/VIN1/telemetry/location/gps"));
  CHECK_FALSE(consent_catalog::covers_topic(*location, "VIN1", "vehicles/VIN2/telemetry/location"));
  CHECK_FALSE(consent_catalog::covers_topic(*location, "VIN1", "vehicles/VIN1/telemetry/speed"));
  const auto* remote = catalog.find("remote-control");
  REQUIRE(remote);
  CHECK(consent_catalog::covers_command(*remote, "lock-doors"));
  CHECK_FALSE(consent_catalog::covers_command(*remote, "read-dtc"));
  CHECK_FALSE(catalog.find("nothing"));
  for (const auto& p : catalog.purposes())
    CHECK_MESSAGE(consent_catalog::check(p) == "", p.name);
}

TEST_CASE("purposes file: purposes with topics and commands, and errors naming file and line") {
  auto catalog = runtime::parse_purpose_file(R"(
[purposes.ev-charging]
description = "Charging sessions"
topics = ["vehicles/{vin}/telemetry/battery/#"]
commands = ["charging"]
)",
                                             "p.toml");
  REQUIRE(catalog.purposes().size() == 1);
  const auto* p = catalog.find("ev-charging");
  REQUIRE(p);
  CHECK(consent_catalog::covers_topic(*p, "V", "vehicles/V/telemetry/battery/soc"));
  CHECK(consent_catalog::covers_command(*p, "charging"));

  auto fails_with = [](const char* text, const std::string& expected) {
    try {
      runtime::parse_purpose_file(text, "p.toml");
      FAIL("no error for: " << text);
    } catch (const runtime::purpose_file_error& e) {
      CHECK_MESSAGE(std::string{e.what()}.find(expected) != std::string::npos, e.what());
    }
  };
  fails_with("[purposes.a]\ntopics = [\"other/{vin}/x\"]\n", "p.toml:1: 'purposes.a': topic");
  fails_with("[purposes.a]\ntopics = [\"vehicles/{vin}/a/#/b\"]\n", "not a valid topic filter");
  fails_with("[purposes.a]\ndescription = \"x\"\n", "covers nothing");
  fails_with("[purposes.a]\ncommands = [1]\n", "'purposes.a.commands[0]' must be a string");
  fails_with("[purposes.a]\ntopic = []\n", "unknown key 'purposes.a.topic'");
  fails_with("[other]\n", "unknown table 'other'");
  fails_with("x = ", "p.toml:1:");
  fails_with("", "no [purposes.NAME] tables");
  CHECK_THROWS_AS(runtime::load_purpose_file("/nonexistent"), runtime::purpose_file_error);
}

TEST_CASE("stored consent: round trip, keys grouped by vehicle, corrupt records refused") {
  storage::stored_consent c{"VIN1", "insurer-app", "location", 1000, 2000, "key:ops"};
  auto bytes = storage::encode_consent(c);
  auto back = storage::decode_consent(bytes);
  REQUIRE(back.has_value());
  CHECK(*back == c);
  CHECK(storage::consent_key("VIN1", "a", "b").starts_with(storage::consent_prefix("VIN1")));
  CHECK_FALSE(storage::consent_key("VIN10", "a", "b").starts_with(storage::consent_prefix("VIN1")));
  for (std::size_t cut = 0; cut < bytes.size(); ++cut)
    CHECK_FALSE(storage::decode_consent(bytes.substr(0, cut)).has_value());
}
