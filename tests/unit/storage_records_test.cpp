#include <doctest/doctest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "runtime/storage/inflight_in_entry.hpp"
#include "runtime/storage/queue_entry.hpp"
#include "runtime/storage/record_keys.hpp"
#include "runtime/storage/stored_message.hpp"
#include "runtime/storage/stored_session.hpp"
#include "runtime/storage/stored_vehicle.hpp"

using namespace convoy::storage;
namespace mqtt = convoy::mqtt;

namespace {

std::string hex(std::string_view bytes) {
  std::string s;
  char buf[4];
  for (char c : bytes) {
    std::snprintf(buf, sizeof buf, "%02x", static_cast<unsigned char>(c));
    s += buf;
  }
  return s;
}

std::string unhex(std::string_view text) {
  std::string bytes;
  for (std::size_t i = 0; i + 1 < text.size(); i += 2)
    bytes.push_back(static_cast<char>(std::stoi(std::string(text.substr(i, 2)), nullptr, 16)));
  return bytes;
}

stored_session full_session() {
  stored_session s;
  s.client_id = "CNV00000000000042";
  s.version = mqtt::protocol_version::v5;
  s.session_expiry_interval = 86'400;
  s.disconnected_at_ms = 1'700'000'000'123;
  s.subscriptions.push_back(
      {"vehicles/+/telemetry",
       {mqtt::qos::at_least_once, true, false, mqtt::retain_handling::send_if_new_subscription},
       std::nullopt});
  s.subscriptions.push_back(
      {"$share/app/commands/#",
       {mqtt::qos::exactly_once, false, true, mqtt::retain_handling::do_not_send},
       268'435'455});
  s.will = stored_will{"vehicles/42/status",
                       std::string("off\0line", 8),
                       mqtt::qos::exactly_once,
                       true,
                       30,
                       std::string("\x01\x01\x03\x00\x04text", 9)};
  s.incarnation = 4'000'000'000;
  return s;
}

stored_message sample_message() {
  return {"vehicles/42/telemetry",
          std::string("\x00\xff\x10payload", 10),
          mqtt::qos::at_least_once,
          true,
          std::string("\x26\x00\x01k\x00\x01v", 7),
          1'700'000'060'000,
          1'700'000'000'000};
}

// Every shorter prefix of a valid record must fail to decode, and so must
// the record with any one byte replaced by any of several values, unless
// the replacement happens to be valid too; none may crash (the sanitizer
// build checks for undefined behaviour).
template <class Decode>
void check_damage_is_detected(const std::string& record, Decode decode) {
  for (std::size_t n = 0; n < record.size(); ++n) {
    CAPTURE(n);
    CHECK_FALSE(decode(std::string_view(record).substr(0, n)).has_value());
  }
  for (std::size_t i = 0; i < record.size(); ++i) {
    for (unsigned char b : {0x00, 0x01, 0x7f, 0x80, 0x90, 0x9f, 0xc0, 0xc1, 0xc4, 0xcf, 0xd9, 0xdb,
                            0xdc, 0xdd, 0xde, 0xdf, 0xff}) {
      std::string damaged = record;
      damaged[i] = static_cast<char>(b);
      (void)decode(damaged);
    }
  }
  CHECK_FALSE(decode(record + '\0').has_value());
}

}  // namespace

TEST_CASE("storage session record round trips") {
  const stored_session full = full_session();
  storage_result<stored_session> decoded = decode_session(encode_session(full));
  REQUIRE_MESSAGE(decoded.has_value(), (decoded ? "" : decoded.error().what()));
  CHECK(*decoded == full);

  stored_session minimal;
  minimal.client_id = "c";
  minimal.version = mqtt::protocol_version::v311;
  decoded = decode_session(encode_session(minimal));
  REQUIRE(decoded.has_value());
  CHECK(*decoded == minimal);
  CHECK(decoded->subscriptions.empty());
  CHECK_FALSE(decoded->will.has_value());
}

TEST_CASE("storage session record format versions 1, 2 and 3 are stable") {
  // Records byte for byte, as data dirs in the field hold them. A new
  // encoding needs a new format_version, and older versions must still be
  // read: edit these bytes only together with a migration.
  stored_session s;
  s.client_id = "c1";
  s.version = mqtt::protocol_version::v5;
  s.session_expiry_interval = 300;
  s.disconnected_at_ms = 0;
  s.subscriptions.push_back(
      {"a/#",
       {mqtt::qos::at_least_once, true, false, mqtt::retain_handling::send_on_subscribe},
       7});
  const std::string v1 = unhex(
      "01"      // format version
      "96"      // array of 6
      "a26331"  // client_id "c1"
      "05"      // protocol version 5
      "cd012c"  // session expiry 300
      "00"      // disconnected at 0
      "91"
      "96"
      "a3612f23"
      "01"
      "c3"
      "c2"
      "00"
      "07"                // [["a/#", 1, true, false, 0, 7]]
      "c0");              // no will
  s.owner_known = false;  // versions 1 and 2 did not record one
  storage_result<stored_session> decoded = decode_session(v1);
  REQUIRE(decoded.has_value());
  CHECK(*decoded == s);  // incarnation 0: unknown
  s.incarnation = 0xC0FFEE01;
  const std::string v2 = unhex(
      "02"  // format version
      "97"  // array of 7
      "a26331"
      "05"
      "cd012c"
      "00"
      "91"
      "96"
      "a3612f23"
      "01"
      "c3"
      "c2"
      "00"
      "07"
      "c0"
      "cec0ffee01");  // incarnation
  decoded = decode_session(v2);
  REQUIRE(decoded.has_value());
  CHECK(*decoded == s);

  s.owner_known = true;
  s.owner = stored_session::owner_identity{"VIN1", 2};
  const std::string v3 = unhex(
      "03"  // format version
      "98"  // array of 8
      "a26331"
      "05"
      "cd012c"
      "00"
      "91"
      "96"
      "a3612f23"
      "01"
      "c3"
      "c2"
      "00"
      "07"
      "c0"
      "cec0ffee01"
      "92a456494e3102");  // owner ["VIN1", 2 (certificate)]
  CHECK(hex(encode_session(s)) == hex(v3));
  decoded = decode_session(v3);
  REQUIRE(decoded.has_value());
  CHECK(*decoded == s);
  // An anonymous owner is nil.
  s.owner.reset();
  decoded = decode_session(encode_session(s));
  REQUIRE(decoded.has_value());
  CHECK(*decoded == s);
  CHECK(decoded->owner_known);
}

TEST_CASE("storage message record round trips and is stable") {
  const stored_message m = sample_message();
  storage_result<stored_message> decoded = decode_message(encode_message(m));
  REQUIRE(decoded.has_value());
  CHECK(*decoded == m);

  stored_message small{"t", "p", mqtt::qos::exactly_once, false, "", 0, 5};
  const std::string v1 = unhex(
      "01"
      "97"
      "a174"
      "c40170"
      "02"
      "c2"
      "c400"
      "00"
      "05");
  CHECK(hex(encode_message(small)) == hex(v1));
  decoded = decode_message(v1);
  REQUIRE(decoded.has_value());
  CHECK(*decoded == small);
}

TEST_CASE("storage queue entry and inflight_in records round trip and are stable") {
  for (delivery_state state :
       {delivery_state::queued, delivery_state::sent, delivery_state::pubrel_sent}) {
    queue_entry e{~0ULL, mqtt::qos::exactly_once, 65535, state, true, {1, 268'435'455}, ~0U};
    storage_result<queue_entry> decoded = decode_queue_entry(encode_queue_entry(e));
    REQUIRE(decoded.has_value());
    CHECK(*decoded == e);
  }
  queue_entry e{7, mqtt::qos::at_least_once, 0x1234, delivery_state::sent, false, {5}, 9};
  CHECK(hex(encode_queue_entry(e)) ==
        "019707"
        "01"
        "cd1234"
        "01"
        "c2"
        "919105"
        "09");

  inflight_in_entry in{1'700'000'000'000};
  CHECK(hex(encode_inflight_in(in)) == "0191cf0000018bcfe56800");
  storage_result<inflight_in_entry> decoded = decode_inflight_in(encode_inflight_in(in));
  REQUIRE(decoded.has_value());
  CHECK(*decoded == in);
  // Negative times are kept as they are, not refused.
  decoded = decode_inflight_in(encode_inflight_in({-5}));
  REQUIRE(decoded.has_value());
  CHECK(decoded->received_at_ms == -5);
}

TEST_CASE("storage records refuse other format versions and empty input") {
  std::string session = encode_session(full_session());
  CHECK(decode_session("").error().code() == storage_errc::bad_record);
  CHECK(std::string(decode_session("").error().what()) == "corrupt session record: empty");
  session[0] = 4;
  CHECK(std::string(decode_session(session).error().what()) ==
        "session record has format version 4; this build reads versions 1 to 3");
  std::string entry = encode_queue_entry({});
  entry[0] = 0;
  CHECK_FALSE(decode_queue_entry(entry).has_value());
}

TEST_CASE("storage records refuse truncated and damaged bytes") {
  check_damage_is_detected(encode_session(full_session()),
                           [](std::string_view r) { return decode_session(r); });
  check_damage_is_detected(encode_message(sample_message()),
                           [](std::string_view r) { return decode_message(r); });
  check_damage_is_detected(
      encode_queue_entry({9, mqtt::qos::at_least_once, 3, delivery_state::sent, true, {7}}),
      [](std::string_view r) { return decode_queue_entry(r); });
  check_damage_is_detected(encode_inflight_in({123}),
                           [](std::string_view r) { return decode_inflight_in(r); });
}

TEST_CASE("storage records name the field that is wrong") {
  const auto session_error = [](std::string_view hex_body) {
    storage_result<stored_session> r = decode_session(unhex(hex_body));
    REQUIRE_FALSE(r.has_value());
    return std::string(r.error().what());
  };
  // Protocol version 6.
  CHECK(session_error("0196a16306000090c0") ==
        "corrupt session record: field 'protocol_version': 6 is out of range 4..5");
  // QoS 3 in the second subscription.
  CHECK(session_error("0196a16305000092"
                      "96a16100c2c200c0"
                      "96a16203c2c200c0"
                      "c0")
            .starts_with("corrupt session record: field 'subscriptions[1].qos': "));
  // Client id as binary instead of a string.
  CHECK(session_error("0196c401630500"
                      "0090c0") ==
        "corrupt session record: field 'client_id': expected a string, found binary");
  // Five fields instead of six.
  CHECK(session_error("0195a163050000"
                      "90") == "corrupt session record: expected 6 fields, found 5");
  // A will that is a number.
  CHECK(session_error("0196a16305000090"
                      "07") ==
        "corrupt session record: field 'will': expected an array, found an unsigned integer");
  // Subscription identifier 0 is not one.
  CHECK(session_error("0196a16305000091"
                      "96a16100c2c20000"
                      "c0")
            .find("'subscriptions[0].subscription_id': 0 is out of range") != std::string::npos);

  storage_result<queue_entry> state = decode_queue_entry(unhex("019701010103c29000"));
  REQUIRE_FALSE(state.has_value());
  CHECK(std::string(state.error().what()) ==
        "corrupt queue entry record: field 'state': 3 is out of range 0..2");
}

TEST_CASE("storage records bound what a corrupt length can make the decoder allocate") {
  // An array claiming 2^32-1 elements, a string claiming 4 GiB, a map and a
  // deep nest: each must fail at once, not allocate what it claims.
  for (const char* body :
       {"01ddffffffff", "01dbffffffff", "01dfffffffff", "019191919191919191919191919191919191"}) {
    CAPTURE(body);
    storage_result<stored_session> r = decode_session(unhex(body));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code() == storage_errc::bad_record);
  }
}

TEST_CASE("storage keys sort queues by sequence and keep clients apart") {
  const std::uint64_t sequences[] = {0, 1, 255, 256, 65535, 1ULL << 32, ~0ULL};
  for (std::size_t i = 1; i < std::size(sequences); ++i) {
    CHECK(queue_key("c", sequences[i - 1]) < queue_key("c", sequences[i]));
    CHECK(message_key(sequences[i - 1]) < message_key(sequences[i]));
  }
  CHECK(inflight_in_key("c", 1) < inflight_in_key("c", 256));
  // "a"'s entries do not interleave with "ab"'s: every "a" key sorts before
  // every "ab" key.
  CHECK(queue_key("a", ~0ULL) < queue_key("ab", 0));
  CHECK_FALSE(queue_key("ab", 0).starts_with(queue_prefix("a")));
  CHECK(queue_key("a", 5).starts_with(queue_prefix("a")));

  CHECK(*queue_sequence_of(queue_key("vehicle", 42)) == 42);
  CHECK(*inflight_in_packet_id_of(inflight_in_key("vehicle", 65535)) == 65535);
  CHECK(*message_id_of(message_key(1ULL << 50)) == 1ULL << 50);
  CHECK(session_key("vehicle") == "vehicle");
  CHECK(retained_key("a/b") == "a/b");
  CHECK(queue_key("ab", 1) == std::string("\x02"
                                          "ab"
                                          "\0\0\0\0\0\0\0\x01",
                                          11));

  CHECK_FALSE(queue_sequence_of("").has_value());
  CHECK_FALSE(queue_sequence_of(std::string("\x05"
                                            "ab",
                                            3))
                  .has_value());
  CHECK_FALSE(inflight_in_packet_id_of(queue_key("c", 1)).has_value());
  CHECK_FALSE(message_id_of("1234567").has_value());
}

TEST_CASE("storage keys of long names fit LMDB and stay unique") {
  const std::string base(long_name_threshold, 'x');
  CHECK(name_key(base) == base);
  const std::string long_a = base + "a";
  const std::string long_b = base + "b";
  CHECK(name_key(long_a).size() == long_name_threshold + sha256_size);
  CHECK(name_key(long_a) != name_key(long_b));
  CHECK(name_key(long_a) == name_key(long_a));
  CHECK(name_key(long_a).starts_with(base));

  const std::string longest(65535, 'v');
  CHECK(session_key(longest).size() <= 511);
  CHECK(retained_key(longest).size() <= 511);
  CHECK(queue_key(longest, ~0ULL).size() <= 511);
  CHECK(*queue_sequence_of(queue_key(longest, 99)) == 99);
  CHECK(*inflight_in_packet_id_of(inflight_in_key(longest, 7)) == 7);
  CHECK(queue_key(longest, 1).starts_with(queue_prefix(longest)));
  CHECK_FALSE(queue_key(longest + "w", 1).starts_with(queue_prefix(longest)));
}

TEST_CASE("storage vehicle record round trips, is stable and refuses damage") {
  stored_vehicle v;
  v.vin = "V1";
  v.model = "ID.4";
  v.region = "eu";
  v.status = 1;
  v.created_at_ms = 5;
  v.updated_at_ms = 6;
  v.devices.push_back({"tcu", std::string(64, 'a'), 1, 7});
  auto decoded = decode_vehicle(encode_vehicle(v));
  REQUIRE(decoded.has_value());
  CHECK(*decoded == v);

  stored_vehicle empty;
  empty.vin = "V2";
  const std::string v1 = unhex(
      "01"      // format version
      "97"      // array of 7
      "a25632"  // vin "V2"
      "a0"      // model ""
      "a0"      // region ""
      "00"      // status active
      "00"      // created at 0
      "00"      // updated at 0
      "90");    // no devices
  CHECK(hex(encode_vehicle(empty)) == hex(v1));
  decoded = decode_vehicle(v1);
  REQUIRE(decoded.has_value());
  CHECK(*decoded == empty);

  check_damage_is_detected(encode_vehicle(v), [](std::string_view r) { return decode_vehicle(r); });
  // Status values the registry does not define.
  std::string bad = encode_vehicle(empty);
  bad[bad.size() - 4] = 0x05;
  CHECK_FALSE(decode_vehicle(bad).has_value());
}
