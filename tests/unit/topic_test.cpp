#include <doctest/doctest.h>

#include "protocol/topic.hpp"

using namespace convoy::mqtt;

TEST_CASE("topic filters match as the spec's examples say") {
  CHECK(topic_matches("sport/tennis/player1/#", "sport/tennis/player1"));
  CHECK(topic_matches("sport/tennis/player1/#", "sport/tennis/player1/ranking"));
  CHECK(topic_matches("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon"));
  CHECK(topic_matches("sport/#", "sport"));
  CHECK(topic_matches("#", "sport/tennis"));
  CHECK(topic_matches("sport/tennis/+", "sport/tennis/player1"));
  CHECK_FALSE(topic_matches("sport/tennis/+", "sport/tennis/player1/ranking"));
  CHECK_FALSE(topic_matches("sport/+", "sport"));
  CHECK(topic_matches("sport/+", "sport/"));
  CHECK(topic_matches("+/+", "/finance"));
  CHECK(topic_matches("/+", "/finance"));
  CHECK_FALSE(topic_matches("+", "/finance"));
  CHECK(topic_matches("+", "finance"));
  CHECK(topic_matches("a/b", "a/b"));
  CHECK_FALSE(topic_matches("a/b", "a/b/c"));
  CHECK_FALSE(topic_matches("a/b/c", "a/b"));
  CHECK(topic_matches("+/+/+", "a//c"));
}

TEST_CASE("leading wildcards do not match $-topics") {
  CHECK_FALSE(topic_matches("#", "$SYS/broker"));
  CHECK_FALSE(topic_matches("+/monitor/Clients", "$SYS/monitor/Clients"));
  CHECK(topic_matches("$SYS/#", "$SYS/broker"));
  CHECK(topic_matches("$SYS/monitor/+", "$SYS/monitor/Clients"));
}

TEST_CASE("topic name validity") {
  CHECK(validate_topic_name("a/b") == reason_code::success);
  CHECK(validate_topic_name("/") == reason_code::success);
  CHECK(validate_topic_name("") == reason_code::topic_name_invalid);
  CHECK(validate_topic_name("a/+") == reason_code::topic_name_invalid);
  CHECK(validate_topic_name("a/#") == reason_code::topic_name_invalid);
  CHECK(validate_topic_name(std::string(65536, 'a')) == reason_code::topic_name_invalid);
}

TEST_CASE("topic filter validity") {
  for (const char* ok :
       {"#", "+", "a/#", "a/+/b", "+/+", "/", "a//b", "$share/g/a/#", "$share/g/#"})
    CHECK_MESSAGE(validate_topic_filter(ok) == reason_code::success, ok);
  for (const char* bad : {"", "a#", "a/#/b", "a+", "a/b+/c", "#/a", "$share/g", "$share//a",
                          "$share/g+/a", "$share/g/", "$share/g/a#"})
    CHECK_MESSAGE(validate_topic_filter(bad) == reason_code::topic_filter_invalid, bad);
}

TEST_CASE("shared subscription filters split into group and filter") {
  auto s = parse_shared_filter("$share/group1/vehicles/+/telemetry");
  REQUIRE(s.has_value());
  CHECK(s->group == "group1");
  CHECK(s->filter == "vehicles/+/telemetry");
  CHECK_FALSE(parse_shared_filter("vehicles/+/telemetry").has_value());
  CHECK_FALSE(parse_shared_filter("$SYS/x").has_value());
}
