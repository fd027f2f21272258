// Remote commands: the status vocabulary, what a vehicle receives, the
// stored record's round trip, and the store's listing of a vehicle's
// commands (newest first, paged) and start-up scan by VIN.

#include <doctest/doctest.h>

#include <chrono>
#include <future>
#include <memory>

#include <nlohmann/json.hpp>

#include "actors/vehicle/command.hpp"
#include "actors/vehicle/command_json.hpp"
#include "actors/vehicle/command_workflow.hpp"
#include "runtime/storage/lmdb_store.hpp"
#include "runtime/storage/stored_command.hpp"
#include "storage_test_support.hpp"

using namespace convoy;

namespace {

command_record sample(std::string vin, std::string id) {
  command_record c;
  c.id = std::move(id);
  c.vin = std::move(vin);
  c.name = "lock-doors";
  c.params = R"({"doors":"all"})";
  c.requested_by = "companion-app";
  c.idempotency_key = "k-1";
  c.created_at = 1000;
  c.timeout_ms = 30'000;
  c.ttl_ms = 600'000;
  c.sent_at = 1500;
  c.status = command_status::accepted;
  c.result = R"({"progress":10})";
  c.timeline = {{1000, command_status::received, "requested by companion-app"},
                {1500, command_status::sent, "published"},
                {1600, command_status::accepted, ""}};
  return c;
}

bool wait_for(const std::function<bool(durable_store::completion)>& call) {
  auto done = std::make_shared<std::promise<bool>>();
  auto outcome = done->get_future();
  REQUIRE(call([done](bool stored) { done->set_value(stored); }));
  REQUIRE(outcome.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  return outcome.get();
}

}  // namespace

TEST_CASE("command statuses: terminal ones, and the reports a vehicle may make") {
  for (auto s : {command_status::received, command_status::queued, command_status::sent,
                 command_status::accepted, command_status::in_progress})
    CHECK_FALSE(is_terminal(s));
  for (std::uint8_t v = 5; v <= last_command_status; ++v)
    CHECK(is_terminal(static_cast<command_status>(v)));
  CHECK(to_string(command_status::timed_out) == "timed_out");
  CHECK(vehicle_report_status("accepted") == command_status::accepted);
  CHECK(vehicle_report_status("in-progress") == command_status::in_progress);
  CHECK(vehicle_report_status("in_progress") == command_status::in_progress);
  CHECK(vehicle_report_status("succeeded") == command_status::succeeded);
  CHECK(vehicle_report_status("failed") == command_status::failed);
  // The broker's own verdicts are not the vehicle's to give.
  CHECK_FALSE(vehicle_report_status("cancelled"));
  CHECK_FALSE(vehicle_report_status("timed_out"));
  CHECK_FALSE(vehicle_report_status(""));
}

TEST_CASE("a command as the vehicle gets it and as the API shows it") {
  auto c = sample("VIN1", "c1");
  CHECK(command_topic(c) == "vehicles/VIN1/commands/lock-doors");
  CHECK(command_status_topic(c) == "vehicles/VIN1/command-status/c1");
  auto payload = nlohmann::json::parse(command_payload(c));
  CHECK(payload["id"] == "c1");
  CHECK(payload["params"]["doors"] == "all");
  CHECK(payload["timeoutSeconds"] == 30);
  CHECK(payload["responseTopic"] == "vehicles/VIN1/command-status/c1");
  auto shown = to_json(c, true);
  CHECK(shown["status"] == "accepted");
  CHECK(shown["terminal"] == false);
  CHECK(shown["result"]["progress"] == 10);
  CHECK(shown["events"] == 3);
  CHECK(shown["timeline"].size() == 3);
  CHECK(shown["updatedAt"] == 1600);
  CHECK_FALSE(to_json(c, false).contains("timeline"));
  // Text that is not JSON stays text.
  CHECK(json_value_of("plain words") == "plain words");
  CHECK(json_value_of("").is_null());
}

TEST_CASE("stored command: round trip, corrupt records refused") {
  storage::stored_command s{"c1",
                            "VIN1",
                            "climate",
                            "{}",
                            "app",
                            "key",
                            1,
                            2,
                            3,
                            4,
                            6,
                            "{}",
                            {{1, 0, "received"}, {5, 6, "\"failed\""}}};
  auto bytes = storage::encode_command(s);
  auto back = storage::decode_command(bytes);
  REQUIRE(back.has_value());
  CHECK(*back == s);
  for (std::size_t cut = 0; cut < bytes.size(); ++cut)
    CHECK_FALSE(storage::decode_command(bytes.substr(0, cut)).has_value());
  // A status beyond the known ones is refused, not misread.
  s.status = 200;
  CHECK_FALSE(storage::decode_command(storage::encode_command(s)).has_value());
  CHECK(storage::command_key("V", "c1") == std::string("V\0c1", 4));
}

TEST_CASE("lmdb_store lists a vehicle's commands newest first and scans by VIN") {
  storage::test::temp_dir dir;
  storage::storage_options o;
  o.data_dir = dir.path();
  o.commit.commit_window = std::chrono::microseconds{200};
  runtime::lmdb_store store{o};
  for (const char* id : {"c01", "c02", "c03", "c04"})
    REQUIRE(wait_for([&](auto done) { return store.save_command(sample("VIN1", id), done); }));
  // "VIN10" shares a prefix with "VIN1" but is another vehicle.
  REQUIRE(wait_for([&](auto done) { return store.save_command(sample("VIN10", "c05"), done); }));
  bool more = false;
  auto page = store.list_commands("VIN1", "", 3, more);
  REQUIRE(page.size() == 3);
  CHECK(page[0].id == "c04");
  CHECK(page[2].id == "c02");
  CHECK(more);
  page = store.list_commands("VIN1", "c02", 3, more);
  REQUIRE(page.size() == 1);
  CHECK(page[0].id == "c01");
  CHECK_FALSE(more);
  auto loaded = store.load_command("VIN1", "c03");
  REQUIRE(loaded);
  CHECK(loaded->timeline.size() == 3);
  CHECK(loaded->status == command_status::accepted);
  CHECK(loaded->result == R"({"progress":10})");
  CHECK_FALSE(store.load_command("VIN10", "c03"));
  auto mine = store.load_commands([](std::string_view vin) { return vin == "VIN10"; });
  REQUIRE(mine.size() == 1);
  CHECK(mine[0].id == "c05");
  REQUIRE(wait_for([&](auto done) { return store.erase_command("VIN1", "c01", done); }));
  CHECK_FALSE(store.load_command("VIN1", "c01"));
}
