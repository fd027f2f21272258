#include <doctest/doctest.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "runtime/storage/lmdb_store.hpp"
#include "runtime/storage/read_txn.hpp"
#include "storage_test_support.hpp"

using namespace convoy;
using convoy::storage::test::temp_dir;

namespace {

storage::storage_options options_for(const temp_dir& dir) {
  storage::storage_options o;
  o.data_dir = dir.path();
  o.commit.commit_window = std::chrono::microseconds{200};
  return o;
}

// Runs one store call with a completion and waits for its outcome.
template <class F>
bool wait_for(F&& call) {
  auto done = std::make_shared<std::promise<bool>>();
  auto outcome = done->get_future();
  bool submitted = call([done](bool stored) { done->set_value(stored); });
  REQUIRE(submitted);
  REQUIRE(outcome.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  return outcome.get();
}

// app_message holds a mutex: it lives behind a pointer.
std::shared_ptr<app_message> message(std::string topic, std::string payload) {
  auto m = std::make_shared<app_message>();
  m->topic = std::move(topic);
  m->payload = std::make_shared<const std::string>(std::move(payload));
  m->qos = mqtt::qos::exactly_once;
  m->props.add(mqtt::property_id::content_type, std::string{"text/plain"});
  return m;
}

session_record session_of(std::string client_id, std::uint32_t incarnation = 1) {
  session_record r;
  r.incarnation = incarnation;
  r.params.client_id = std::move(client_id);
  r.params.session_expiry = 600;
  r.params.clean_start = false;
  return r;
}

const session_record* find(const std::vector<session_record>& all, const std::string& id) {
  for (const auto& r : all)
    if (r.params.client_id == id) return &r;
  return nullptr;
}

// Records of db, counted in a fresh read of the data dir (the store closed).
std::size_t count_records(const temp_dir& dir, storage::database db) {
  storage::storage_env env(dir.path(), {});
  std::size_t n = 0;
  auto loaded = storage::load_all(env, db, [&](std::string_view, std::string_view) { ++n; });
  REQUIRE(loaded.has_value());
  return n;
}

}  // namespace

TEST_CASE("lmdb_store keeps a routed message once for all its queues until the last release") {
  temp_dir dir;
  std::uint64_t id = 0;
  {
    runtime::lmdb_store store{options_for(dir)};
    for (const char* client : {"vin-a", "vin-b"})
      CHECK(wait_for([&](auto done) { return store.save_session(session_of(client), done); }));
    delivery for_a{{}, mqtt::qos::at_least_once, false, {7}};
    delivery for_b{{}, mqtt::qos::exactly_once, true, {}};
    std::vector<durable_store::queue_target> targets{{"vin-a", &for_a, 1}, {"vin-b", &for_b, 1}};
    auto m = message("vehicles/a/commands/lock", "lock");
    CHECK(wait_for([&](auto done) {
      auto stored = store.save_route(*m, false, targets, done);
      if (stored) id = *stored;
      return stored.has_value();
    }));
    CHECK(id != 0);
    for_b.stored_id = id;
    // vin-b's client got it under packet id 9 and sent PUBREC.
    CHECK(wait_for([&](auto done) {
      return store.save_outgoing_stage("vin-b", 1, for_b, 9, outgoing_stage::pubrel_sent, done);
    }));
  }
  {
    runtime::lmdb_store store{options_for(dir)};
    auto sessions = store.load_sessions();
    const auto* a = find(sessions, "vin-a");
    const auto* b = find(sessions, "vin-b");
    REQUIRE(a != nullptr);
    REQUIRE(b != nullptr);
    REQUIRE(a->outgoing.size() == 1);
    REQUIRE(b->outgoing.size() == 1);
    const auto& qa = a->outgoing[0];
    CHECK(qa.d.stored_id == id);
    CHECK(qa.d.qos == mqtt::qos::at_least_once);
    CHECK(qa.d.subscription_ids == std::vector<std::uint32_t>{7});
    CHECK(qa.stage == outgoing_stage::queued);
    CHECK(qa.d.msg->topic == "vehicles/a/commands/lock");
    CHECK(*qa.d.msg->payload == "lock");
    CHECK(*qa.d.msg->props.string(mqtt::property_id::content_type) == "text/plain");
    const auto& qb = b->outgoing[0];
    CHECK(qb.stage == outgoing_stage::pubrel_sent);
    CHECK(qb.packet_id == 9);
    CHECK(qb.d.retain);
    // One message record shared by both queues.
    CHECK(qa.d.msg.ptr == qb.d.msg.ptr);

    CHECK(wait_for([&](auto done) { return store.release("vin-a", id, done); }));
  }
  CHECK(count_records(dir, storage::database::messages) == 1);  // vin-b still holds it
  {
    runtime::lmdb_store store{options_for(dir)};
    auto sessions = store.load_sessions();
    CHECK(find(sessions, "vin-a")->outgoing.empty());
    CHECK(find(sessions, "vin-b")->outgoing.size() == 1);
    CHECK(wait_for([&](auto done) { return store.release("vin-b", id, done); }));
  }
  CHECK(count_records(dir, storage::database::messages) == 0);
  CHECK(count_records(dir, storage::database::queues) == 0);
}

TEST_CASE("lmdb_store drops a session's references when the session is erased") {
  temp_dir dir;
  runtime::lmdb_store store{options_for(dir)};
  CHECK(wait_for([&](auto done) { return store.save_session(session_of("gone"), done); }));
  delivery d{{}, mqtt::qos::at_least_once, false, {}};
  std::vector<durable_store::queue_target> targets{{"gone", &d, 1}};
  std::vector<std::uint64_t> ids;
  for (int i = 0; i < 3; ++i) {
    auto m = message("t/" + std::to_string(i), "x");
    CHECK(wait_for([&](auto done) {
      auto id = store.save_route(*m, false, targets, done);
      if (id) ids.push_back(*id);
      return id.has_value();
    }));
  }
  CHECK(ids[0] < ids[1]);
  CHECK(ids[1] < ids[2]);
  CHECK(wait_for([&](auto done) { return store.erase_session("gone", ids, done); }));
  CHECK(store.load_sessions().empty());
}

TEST_CASE("lmdb_store reclaims records nothing refers to at start-up and keeps ids increasing") {
  temp_dir dir;
  std::uint64_t last = 0;
  {
    runtime::lmdb_store store{options_for(dir)};
    // A queue entry for a client with no session record: what a deletion
    // lost in a crash leaves behind.
    delivery d{{}, mqtt::qos::at_least_once, false, {}};
    std::vector<durable_store::queue_target> targets{{"nobody", &d, 1}};
    auto m = message("orphan", "x");
    CHECK(wait_for([&](auto done) {
      auto id = store.save_route(*m, false, targets, done);
      if (id) last = *id;
      return id.has_value();
    }));
  }
  CHECK(count_records(dir, storage::database::queues) == 1);
  {
    runtime::lmdb_store store{options_for(dir)};
    CHECK(store.load_sessions().empty());
    CHECK(wait_for([&](auto done) { return store.sync(done); }));
    delivery d{{}, mqtt::qos::at_least_once, false, {}};
    CHECK(wait_for([&](auto done) { return store.save_session(session_of("next"), done); }));
    std::vector<durable_store::queue_target> targets{{"next", &d, 1}};
    auto m = message("fresh", "y");
    std::uint64_t id = 0;
    CHECK(wait_for([&](auto done) {
      auto stored = store.save_route(*m, false, targets, done);
      if (stored) id = *stored;
      return stored.has_value();
    }));
    CHECK(id > last);
  }
  CHECK(count_records(dir, storage::database::queues) == 1);
  CHECK(count_records(dir, storage::database::messages) == 1);
}

TEST_CASE("lmdb_store stores a retained message and queue entries in one write") {
  temp_dir dir;
  runtime::lmdb_store store{options_for(dir)};
  auto m = message("status/vin-9", "parked");
  m->retain = true;
  CHECK(wait_for([&](auto done) { return store.save_route(*m, true, {}, done).has_value(); }));
  auto retained = store.load_retained();
  REQUIRE(retained.size() == 1);
  CHECK(*retained[0]->payload == "parked");
}

TEST_CASE("lmdb_store gives a session only the queue entries of its own incarnation") {
  temp_dir dir;
  {
    runtime::lmdb_store store{options_for(dir)};
    delivery d{{}, mqtt::qos::at_least_once, false, {}};
    // A route for the session that ended (incarnation 1) stored after the
    // next session of the same client id (incarnation 2) began.
    CHECK(wait_for([&](auto done) { return store.save_session(session_of("vin", 2), done); }));
    for (std::uint32_t incarnation : {1u, 2u}) {
      std::vector<durable_store::queue_target> targets{{"vin", &d, incarnation}};
      auto m = message("vehicles/vin/commands", "for " + std::to_string(incarnation));
      CHECK(wait_for(
          [&](auto done) { return store.save_route(*m, false, targets, done).has_value(); }));
    }
  }
  {
    runtime::lmdb_store store{options_for(dir)};
    auto sessions = store.load_sessions();
    REQUIRE(sessions.size() == 1);
    REQUIRE(sessions[0].outgoing.size() == 1);
    CHECK(*sessions[0].outgoing[0].d.msg->payload == "for 2");
    CHECK(wait_for([&](auto done) { return store.sync(done); }));
  }
  CHECK(count_records(dir, storage::database::queues) == 1);
  CHECK(count_records(dir, storage::database::messages) == 1);
}
