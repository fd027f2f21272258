// Telemetry routing rules: payload decoding (JSON, gzip, MessagePack),
// predicates, the rule set's decisions, the rules file and its errors, and
// the archive's lines.

#include <doctest/doctest.h>

#include <memory>

#include <nlohmann/json.hpp>

#include "actors/core/inflow_bound.hpp"
#include "actors/rules/archive_writer.hpp"
#include "actors/rules/rule_worker.hpp"
#include "actors/rules/telemetry_payload.hpp"
#include "actors/rules/telemetry_rules.hpp"
#include "protocol/base64.hpp"
#include "runtime/rules/rule_definition.hpp"
#include "runtime/rules/rules_file.hpp"

using namespace convoy;
using nlohmann::json;

namespace {

std::shared_ptr<app_message> message(std::string topic, std::string payload) {
  auto m = std::make_shared<app_message>();
  m->topic = std::move(topic);
  m->payload = std::make_shared<const std::string>(std::move(payload));
  return m;
}

payload_predicate predicate(std::string_view text) {
  std::string error;
  auto p = payload_predicate::parse(text, error);
  REQUIRE_MESSAGE(p, error);
  return *p;
}

std::string parse_error(std::string_view text) {
  try {
    runtime::parse_rules_file(text, "r.toml");
  } catch (const runtime::rules_file_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("payloads decode from JSON, gzipped JSON and MessagePack") {
  json v = {{"speed", 88}, {"gear", "D"}};
  auto plain = decode_payload(v.dump(), "", payload_format::automatic);
  CHECK(plain.value == v);
  CHECK(plain.format == payload_format::json);
  auto zipped = decode_payload(gzip_compress(v.dump()), "", payload_format::automatic);
  CHECK(zipped.value == v);
  CHECK(zipped.format == payload_format::gzip_json);
  auto packed = json::to_msgpack(v);
  auto unpacked =
      decode_payload(std::string(packed.begin(), packed.end()), "", payload_format::automatic);
  CHECK(unpacked.value == v);
  CHECK(unpacked.format == payload_format::msgpack);
  // The Content Type decides when it names a format.
  CHECK(decode_payload(gzip_compress(v.dump()), "application/json+gzip", payload_format::automatic)
            .value == v);
  // Garbage, truncated gzip and a gzip bomb fail, never crash.
  CHECK(decode_payload("{nope", "", payload_format::json).value.is_discarded());
  auto z = gzip_compress(v.dump());
  CHECK(decode_payload(z.substr(0, z.size() / 2), "", payload_format::gzip_json)
            .value.is_discarded());
  std::string zeros(4 << 20, '0');
  auto bomb = decode_payload(gzip_compress(zeros), "", payload_format::gzip_json, 1 << 20);
  CHECK(bomb.value.is_discarded());
  CHECK(bomb.error.find("inflates beyond") != std::string::npos);
  CHECK(decode_payload("\xc1", "", payload_format::msgpack).value.is_discarded());
  // Concatenated gzip members (archive segments) inflate whole.
  CHECK(gzip_inflate(gzip_compress("ab") + gzip_compress("cd"), 100) == "abcd");
}

TEST_CASE("predicates compare payload fields") {
  json p = {{"battery", {{"soc", 9}}}, {"gear", "D"}, {"alert", nullptr}};
  CHECK(predicate("battery.soc < 10").holds(p));
  CHECK_FALSE(predicate("battery.soc >= 10").holds(p));
  CHECK(predicate("battery.soc == 9.0").holds(p));
  CHECK(predicate("gear == \"D\"").holds(p));
  CHECK(predicate("gear != \"R\"").holds(p));
  CHECK(predicate("exists alert").holds(p));
  CHECK_FALSE(predicate("exists missing.field").holds(p));
  CHECK_FALSE(predicate("missing > 1").holds(p));
  CHECK_FALSE(predicate("gear > 3").holds(p));  // a string is not ordered against a number
  std::string error;
  for (auto bad : {"", "speed", "speed ~ 3", "speed > {}", "speed < true", "exists ", "> 3"}) {
    CAPTURE(bad);
    CHECK_FALSE(payload_predicate::parse(bad, error));
    CHECK_FALSE(error.empty());
  }
}

TEST_CASE("the rule set decides per message: union of matched rules, defaults otherwise") {
  telemetry_rule bulk;
  bulk.name = "bulk";
  bulk.filter = "vehicles/+/telemetry/bulk/#";
  bulk.properties = {{"priority", "low"}};
  bulk.actions = static_cast<std::uint8_t>(rule_action::archive);
  bulk.archive = "cold";
  telemetry_rule fast;
  fast.name = "speeding";
  fast.filter = "vehicles/+/telemetry/speed";
  fast.where = {predicate("kmh > 130")};
  fast.actions = static_cast<std::uint8_t>(rule_action::deliver) |
                 static_cast<std::uint8_t>(rule_action::archive);
  fast.archive = "speeding";
  rule_set rules({bulk, fast});

  auto low = message("vehicles/V1/telemetry/bulk/can", "\x01\x02 not parsed");
  low->props.add_user_property("priority", "low");
  auto d = rules.decide(*low, true);
  CHECK(d.matched);
  CHECK_FALSE(d.deliver);  // archived only: its subscribers do not get it
  CHECK_FALSE(d.state);
  CHECK(d.archive_rules == std::vector<std::uint32_t>{0});
  // Without the property it matches nothing: the defaults.
  auto plain = message("vehicles/V1/telemetry/bulk/can", "x");
  d = rules.decide(*plain, true);
  CHECK_FALSE(d.matched);
  CHECK(d.deliver);
  CHECK(d.state);
  // Predicates read the payload in any of its formats.
  auto packed = json::to_msgpack(json{{"kmh", 150}});
  auto fast_msg = message("vehicles/V1/telemetry/speed", std::string(packed.begin(), packed.end()));
  d = rules.decide(*fast_msg, true);
  CHECK(d.deliver);
  CHECK_FALSE(d.state);  // the rule did not ask for it
  CHECK(d.archive_rules == std::vector<std::uint32_t>{1});
  CHECK_FALSE(
      rules.decide(*message("vehicles/V1/telemetry/speed", R"({"kmh": 90})"), true).matched);
  CHECK_FALSE(rules.decide(*message("vehicles/V1/telemetry/speed", "garbage"), true).matched);
  // Not telemetry: never the state.
  CHECK_FALSE(rule_set::unmatched(*message("fleet/news", "x"), true).state);
  CHECK(telemetry_vin("vehicles/V1/telemetry") == "V1");
  CHECK(telemetry_vin("vehicles/V1/telemetryx") == "");
  CHECK(telemetry_vin("vehicles/V1/commands/x") == "");
}

TEST_CASE("rules file: rules and archives, and errors naming file, line and rule") {
  auto f = runtime::parse_rules_file(R"(
[[rule]]
name = "bulk"
topic = "vehicles/+/telemetry/bulk/#"
user_properties = { priority = "low" }
actions = ["archive"]
archive = "cold"

[[rule]]
name = "alerts"
topic = "vehicles/+/telemetry/alerts"
where = ["severity >= 3"]
format = "json"
actions = ["deliver", "state"]

[archive.cold]
gzip = true
max_segment_bytes = 1048576
)",
                                     "r.toml");
  REQUIRE(f.rules.size() == 2);
  CHECK(f.rules[0].has(rule_action::archive));
  CHECK(f.rules[0].properties.size() == 1);
  CHECK(f.rules[1].where.size() == 1);
  REQUIRE(f.archives.size() == 1);
  CHECK(f.archives[0].gzip);
  CHECK(f.archives[0].max_segment_bytes == 1048576);

  CHECK(parse_error("[[rule]]\nname = \"a\"\ntopic = \"x/#\"\nactions = [\"fly\"]\n") ==
        "r.toml:4: rule 'a': unknown action 'fly' (known: deliver, state, archive, republish, "
        "webhook)");
  CHECK(parse_error("[[rule]]\nname = \"a\"\ntopic = \"x/#\"\nactions = [\"archive\"]\n")
            .find("needs 'archive' (a name)") != std::string::npos);
  CHECK(parse_error("[[rule]]\nname = \"a\"\ntopic = \"x/#\"\nactions = [\"archive\"]\n"
                    "archive = \"nowhere\"\n")
            .find("there is no archive 'nowhere'") != std::string::npos);
  CHECK(parse_error("[[rule]]\nname = \"a\"\ntopic = \"x/#/y\"\nactions = [\"deliver\"]\n")
            .find("must be a topic filter") != std::string::npos);
  CHECK(parse_error("[[rule]]\nname = \"a\"\ntopic = \"x\"\nwhere = [\"speed ~ 1\"]\n"
                    "actions = [\"deliver\"]\n")
            .find("expected one of") != std::string::npos);
  CHECK(parse_error("[[rule]]\nname = \"a\"\ntopic = \"x\"\nactions = [\"deliver\"]\n"
                    "[[rule]]\nname = \"a\"\ntopic = \"y\"\nactions = [\"deliver\"]\n")
            .find("two rules are named 'a'") != std::string::npos);
  CHECK(parse_error("[[rule]]\nname = \"a\"\ntopic = \"x\"\nactions = [\"deliver\"]\ncolor = 1\n")
            .find("unknown key 'rule[0].color'") != std::string::npos);
  CHECK(parse_error("[other]\n").find("unknown table 'other'") != std::string::npos);
  CHECK(parse_error("[[rule]]\nname = \"a\"\ntopic = \"vehicles/+/telemetry/x\"\n"
                    "actions = [\"republish\"]\n")
            .find("needs 'republish_topic'") != std::string::npos);
  CHECK(parse_error("[[rule]]\nname = \"a\"\ntopic = \"vehicles/+/telemetry/x\"\n"
                    "actions = [\"republish\"]\nrepublish_topic = \"services/+/x\"\n")
            .find("must be a topic name with {vin}") != std::string::npos);
  CHECK(parse_error("[[rule]]\nname = \"a\"\ntopic = \"fleet/#\"\nactions = [\"republish\"]\n"
                    "republish_topic = \"s/{vin}\"\n")
            .find("republish rules match vehicles/{vin}/... topics") != std::string::npos);
  CHECK(parse_error("[[rule]]\nname = \"a\"\ntopic = \"x\"\nactions = [\"webhook\"]\n"
                    "webhook = \"ops\"\n")
            .find("there is no webhook 'ops'") != std::string::npos);
  CHECK(parse_error("[webhook.ops]\nurl = \"ftp://example.com/x\"\n")
            .find("must be an http:// or https:// URL") != std::string::npos);
  CHECK(parse_error("[webhook.ops]\nurl = \"http://example.com/x\"\nca_file = \"ca.pem\"\n")
            .find("'webhook.ops.ca_file' is for https:// URLs") != std::string::npos);
  CHECK(parse_error("[webhook.ops]\nurl = \"https://example.com/x\"\nca_file = \"ca.pem\"\n") ==
        "");
  CHECK(parse_error("[webhook.ops]\nurl = \"http://h:1/x\"\nretry_initial_ms = 500\n"
                    "retry_max_ms = 100\n")
            .find("must not be below 'webhook.ops.retry_initial_ms'") != std::string::npos);
  CHECK(republish_topic("services/{vin}/{topic}", "vehicles/V1/telemetry/a") ==
        "services/V1/telemetry/a");
  CHECK(republish_topic("services/{vin}", "fleet/x") == "");  // no VIN: no topic

  CHECK(parse_error("[archive.a]\nmax_segment_bytes = 1\n").find("from 4096") != std::string::npos);
  CHECK(parse_error("[[rule]\n").find("r.toml:1:") == 0);
}

TEST_CASE("archive lines keep text as text and bytes as base64") {
  auto text = json::parse(archive_line(*message("vehicles/V/telemetry/x", R"({"a":1})")));
  CHECK(text["topic"] == "vehicles/V/telemetry/x");
  CHECK(text["payload"] == R"({"a":1})");
  auto bytes = json::parse(archive_line(*message("t", std::string("\xff\x00\x01", 3))));
  CHECK(base64_decode(bytes["payloadBase64"].get<std::string>()) == std::string("\xff\x00\x01", 3));
}

TEST_CASE("base64 round trip and refusals") {
  for (std::string s : std::vector<std::string>{"", "f", "fo", "foo", "foob", "fooba", "foobar",
                                                std::string("\0\xff", 2)})
    CHECK(base64_decode(base64_encode(s)) == s);
  CHECK(base64_encode("foobar") == "Zm9vYmFy");
  CHECK(base64_encode("fo") == "Zm8=");
  CHECK_FALSE(base64_decode("Zm8"));
  CHECK_FALSE(base64_decode("Z=8="));
  CHECK_FALSE(base64_decode("Zm8*"));
  CHECK_FALSE(base64_decode("=AAA"));
}

TEST_CASE("an inflow bound lets that many messages be on their way, then refuses") {
  inflow_bound bound(3);
  CHECK(bound.try_take());
  CHECK(bound.try_take());
  CHECK(bound.try_take());
  CHECK_FALSE(bound.try_take());  // the fourth: dropped by its sender
  CHECK(bound.queued() == 3);
  bound.give_back();  // the actor handled one
  CHECK(bound.try_take());
  CHECK(bound.queued() == 3);
}

TEST_CASE("rules over the API: JSON rules are read and refused as file rules are") {
  runtime::known_sinks sinks;
  sinks.archive = [](const std::string& n) { return n == "cold"; };
  sinks.webhook = [](const std::string& n) { return n == "ops"; };
  auto from = [&](const std::string& text, std::string& error) {
    return runtime::rule_from_json("r", json::parse(text), sinks, error);
  };
  std::string error;
  auto r = from(R"({"topic": "vehicles/+/telemetry/speed", "userProperties": {"priority": "high"},
                    "where": ["kmh > 130"], "format": "msgpack",
                    "actions": ["deliver", "archive", "webhook", "republish"], "archive": "cold",
                    "webhook": "ops", "republishTopic": "services/{vin}/speed", "subject": "app"})",
                error);
  REQUIRE_MESSAGE(r, error);
  CHECK(r->has(rule_action::archive));
  CHECK(r->format == payload_format::msgpack);
  CHECK(r->where.size() == 1);
  // What the API shows reads back as the same rule.
  json shown = runtime::rule_to_json(*r);
  auto again = runtime::rule_from_json("r", shown, sinks, error);
  REQUIRE(again);
  CHECK(runtime::rule_to_json(*again) == shown);

  auto refusal = [&](const std::string& text) {
    std::string why;
    CHECK_FALSE(from(text, why));
    return why;
  };
  CHECK(refusal(R"({"topic": "a", "actions": ["archive"]})") ==
        "rule 'r': the archive action needs 'archive' (a name)");
  CHECK(refusal(R"({"topic": "a", "actions": ["archive"], "archive": "hot"})") ==
        "rule 'r': there is no archive 'hot'");
  CHECK(refusal(R"({"topic": "vehicles/+/x", "actions": ["republish"]})") ==
        "rule 'r': the republish action needs 'republishTopic'");
  CHECK(refusal(R"({"topic": "a", "actions": ["deliver"], "subject": "s"})") ==
        "rule 'r': 'republishTopic' and 'subject' belong to the republish action");
  CHECK(refusal(R"({"topic": "a", "actions": "deliver"})") ==
        "rule 'r': \"actions\" must be an array of strings");
  CHECK(refusal(R"({"topic": 1, "actions": ["deliver"]})") ==
        "rule 'r': \"topic\" must be a string");
  CHECK(refusal(R"({"topic": "a", "actions": [7]})").find("unknown action 7") != std::string::npos);
  CHECK(refusal(R"({"topic": "a", "actions": ["deliver"], "userProperties": {"k": 1}})") ==
        "rule 'r': user property 'k' must be a string");
  CHECK(refusal(R"({"topic": "$SYS/#", "actions": ["deliver"]})").find("not $ or $share") !=
        std::string::npos);
  // The file says the same of the same mistake, in its own key names.
  CHECK(parse_error(
            "[[rule]]\nname = \"r\"\ntopic = \"vehicles/+/x\"\nactions = [\"republish\"]\n") ==
        "r.toml:1: rule 'r': the republish action needs 'republish_topic'");
  CHECK(runtime::key_name("republish_topic", runtime::key_style::json) == "republishTopic");
  CHECK(runtime::key_name("user_properties", runtime::key_style::toml) == "user_properties");
}
