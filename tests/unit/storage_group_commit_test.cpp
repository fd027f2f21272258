#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "runtime/storage/group_commit.hpp"
#include "runtime/storage/read_txn.hpp"
#include "runtime/storage/record_keys.hpp"
#include "storage_test_support.hpp"

using namespace convoy::storage;
using convoy::storage::test::read_value;
using convoy::storage::test::temp_dir;
using convoy::storage::test::write_and_wait;

namespace {

group_commit_options window_of(std::chrono::microseconds window) {
  group_commit_options o;
  o.commit_window = window;
  return o;
}

using namespace std::chrono_literals;

// Outcomes of many batches: each completion records that it ran, how often
// and whether it saw an error.
struct completion_log {
  explicit completion_log(std::size_t n) : calls(n), errors(n) {}
  std::vector<std::atomic<int>> calls;
  std::vector<std::atomic<int>> errors;
  std::atomic<std::size_t> done{0};

  write_completion slot(std::size_t i) {
    return [this, i](std::optional<storage_error> e) {
      calls[i].fetch_add(1);
      if (e) errors[i].fetch_add(1);
      done.fetch_add(1);
    };
  }
  bool wait_for_all(std::chrono::seconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (done.load() < calls.size()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(1ms);
    }
    return true;
  }
};

write_batch one_put(database db, std::string key, std::string value) {
  write_batch b;
  b.put(db, std::move(key), std::move(value));
  return b;
}

// Options under which nothing commits by itself for a long time: the window
// is far longer than any test, and only stop() or a full group commits.
group_commit_options held_back(std::size_t max_batch_ops, std::size_t max_pending_ops) {
  group_commit_options o = window_of(60s);
  o.max_batch_ops = max_batch_ops;
  o.max_pending_ops = max_pending_ops;
  return o;
}

}  // namespace

TEST_CASE("storage group commit shares transactions among many writers") {
  temp_dir tmp;
  storage_env env(tmp.path(), {});
  constexpr std::size_t threads = 8;
  constexpr std::size_t per_thread = 250;
  completion_log log(threads * per_thread);
  {
    group_commit writer(env, {});  // the defaults: a 1 ms window
    std::vector<std::thread> submitters;
    for (std::size_t t = 0; t < threads; ++t) {
      submitters.emplace_back([&, t] {
        for (std::size_t i = 0; i < per_thread; ++i) {
          const std::size_t n = t * per_thread + i;
          write_batch b =
              one_put(database::messages, message_key(n), "payload " + std::to_string(n));
          b.on_complete(log.slot(n));
          CHECK(writer.submit(std::move(b)));
          // Pauses spread the writes over several windows, so that groups
          // also form while an earlier one is being flushed.
          if (i % 25 == 24) std::this_thread::sleep_for(100us);
        }
      });
    }
    for (std::thread& s : submitters)
      s.join();
    REQUIRE(log.wait_for_all(60s));

    const commit_counters& c = writer.counters();
    CHECK(c.ops.load() == threads * per_thread);
    CHECK(c.commits.load() >= 1);
    // Far fewer transactions than batches: each one shared by many.
    CHECK(c.commits.load() * 4 < threads * per_thread);
    CHECK(c.failed_commits.load() == 0);
    CHECK(c.failed_batches.load() == 0);
    CHECK(c.refused_submissions.load() == 0);
    CHECK(c.bytes.load() > 0);
    CHECK(c.average_commit_us() > 0);
    CHECK(c.last_commit_us.load() > 0);
    MESSAGE(c.commits.load() << " commits for " << threads * per_thread << " batches, "
                             << c.average_commit_us() << " us each on average");
  }
  for (std::size_t n = 0; n < threads * per_thread; ++n) {
    CAPTURE(n);
    CHECK(log.calls[n].load() == 1);
    CHECK(log.errors[n].load() == 0);
  }
  storage_result<std::size_t> loaded = load_all(env, database::messages, [](auto, auto) {});
  REQUIRE(loaded.has_value());
  CHECK(*loaded == threads * per_thread);
  CHECK(read_value(env, database::messages, message_key(1234)) == "payload 1234");
}

TEST_CASE("storage group commit completes a lone write once its window has passed") {
  temp_dir tmp;
  storage_env env(tmp.path(), {});
  constexpr auto window = 50ms;
  group_commit writer(env, window_of(window));
  const auto start = std::chrono::steady_clock::now();
  CHECK_FALSE(write_and_wait(writer, one_put(database::sessions, "c1", "s")).has_value());
  const auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(elapsed >= window);
  // Generous: the bound is there to catch a write that waits for company
  // that never comes, not to measure the disk.
  CHECK(elapsed < window + 500ms);
  CHECK(writer.counters().commits.load() == 1);
}

TEST_CASE("storage group commit commits at once when max_batch_ops are pending") {
  temp_dir tmp;
  storage_env env(tmp.path(), {});
  group_commit writer(env, held_back(4, 100));
  completion_log log(4);
  for (std::size_t i = 0; i < 4; ++i) {
    write_batch b = one_put(database::sessions, "c" + std::to_string(i), "s");
    b.on_complete(log.slot(i));
    REQUIRE(writer.submit(std::move(b)));
  }
  REQUIRE(log.wait_for_all(30s));
  CHECK(writer.counters().commits.load() == 1);
  CHECK(writer.counters().ops.load() == 4);
}

TEST_CASE("storage group commit refuses submissions beyond max_pending_ops") {
  temp_dir tmp;
  storage_env env(tmp.path(), {});
  completion_log log(10);
  {
    group_commit writer(env, held_back(1000, 10));
    for (std::size_t i = 0; i < 10; ++i) {
      write_batch b = one_put(database::sessions, "c" + std::to_string(i), "s");
      b.on_complete(log.slot(i));
      REQUIRE(writer.submit(std::move(b)));
    }
    bool refused_called = false;
    write_batch over = one_put(database::sessions, "over", "s");
    over.on_complete([&](std::optional<storage_error>) { refused_called = true; });
    CHECK_FALSE(writer.submit(std::move(over)));
    // A refused batch stays with its caller, intact, to retry or answer with.
    CHECK(over.op_count() == 1);
    CHECK(writer.counters().refused_submissions.load() == 1);

    write_batch too_large;
    for (int i = 0; i < 11; ++i)
      too_large.put(database::sessions, "k" + std::to_string(i), "v");
    CHECK_FALSE(writer.submit(std::move(too_large)));
    CHECK(writer.counters().refused_submissions.load() == 2);
    CHECK(log.done.load() == 0);  // nothing committed yet: the window is a minute

    writer.stop();
    CHECK_FALSE(refused_called);
    CHECK_FALSE(writer.submit(one_put(database::sessions, "late", "s")));
    CHECK(writer.counters().refused_submissions.load() == 3);
  }
  CHECK(log.done.load() == 10);
  for (std::size_t i = 0; i < 10; ++i)
    CHECK(log.errors[i].load() == 0);
  CHECK(read_value(env, database::sessions, "c9") == "s");
  CHECK_FALSE(read_value(env, database::sessions, "over").has_value());
}

TEST_CASE("storage group commit drains pending writes on shutdown") {
  temp_dir tmp;
  constexpr std::size_t batches = 500;
  completion_log log(batches);
  const auto start = std::chrono::steady_clock::now();
  {
    storage_env env(tmp.path(), {});
    group_commit writer(env, held_back(100'000, 100'000));
    for (std::size_t i = 0; i < batches; ++i) {
      write_batch b = one_put(database::queues, queue_key("c", i), "entry");
      b.on_complete(log.slot(i));
      REQUIRE(writer.submit(std::move(b)));
    }
    CHECK(log.done.load() == 0);
  }  // the writer's destructor commits, then the environment closes
  CHECK(std::chrono::steady_clock::now() - start < 30s);  // did not wait out the window
  CHECK(log.done.load() == batches);
  for (std::size_t i = 0; i < batches; ++i)
    CHECK(log.calls[i].load() == 1);

  storage_env reopened(tmp.path(), {});
  storage_result<std::size_t> loaded = load_all(reopened, database::queues, [](auto, auto) {});
  REQUIRE(loaded.has_value());
  CHECK(*loaded == batches);
}

TEST_CASE("storage map full fails the batch clearly and later writes still work") {
  temp_dir tmp;
  storage_env env(tmp.path(), {.map_size_mb = 1});
  group_commit writer(env, window_of(0us));
  const std::string too_big(2 * 1024 * 1024, 'x');

  std::optional<storage_error> e =
      write_and_wait(writer, one_put(database::messages, message_key(1), too_big));
  REQUIRE(e.has_value());
  CHECK(e->code() == storage_errc::map_full);
  CHECK(std::string(e->what()) ==
        "storage full: map size 1 MiB reached; raise storage.map_size_mb");
  CHECK(writer.counters().failed_batches.load() == 1);
  CHECK(writer.counters().failed_commits.load() == 1);

  CHECK_FALSE(write_and_wait(writer, one_put(database::messages, message_key(2), "small")));
  CHECK(read_value(env, database::messages, message_key(2)) == "small");
  CHECK_FALSE(read_value(env, database::messages, message_key(1)).has_value());
}

TEST_CASE("storage map full fails only the batch that does not fit in a shared commit") {
  temp_dir tmp;
  storage_env env(tmp.path(), {.map_size_mb = 1});
  // Four batches make one group: the big one in the middle must not take
  // the others down with it.
  group_commit writer(env, held_back(4, 100));
  completion_log log(4);
  for (std::size_t i = 0; i < 4; ++i) {
    const std::string value = i == 1 ? std::string(2 * 1024 * 1024, 'x') : "small";
    write_batch b = one_put(database::messages, message_key(i), value);
    b.on_complete(log.slot(i));
    REQUIRE(writer.submit(std::move(b)));
  }
  REQUIRE(log.wait_for_all(30s));
  CHECK(log.errors[0].load() == 0);
  CHECK(log.errors[1].load() == 1);
  CHECK(log.errors[2].load() == 0);
  CHECK(log.errors[3].load() == 0);
  CHECK(writer.counters().commits.load() == 1);
  CHECK(writer.counters().failed_batches.load() == 1);
  CHECK(writer.counters().failed_commits.load() == 0);
  CHECK(read_value(env, database::messages, message_key(0)) == "small");
  CHECK_FALSE(read_value(env, database::messages, message_key(1)).has_value());
  CHECK(read_value(env, database::messages, message_key(3)) == "small");
}

TEST_CASE("storage group commit rejects an unwritable key without failing its neighbours") {
  temp_dir tmp;
  storage_env env(tmp.path(), {});
  group_commit writer(env, held_back(3, 100));
  std::vector<std::optional<storage_error>> outcomes(3);
  std::atomic<int> done{0};
  const std::string keys[] = {"ok-1", std::string(env.max_key_size() + 1, 'k'), "ok-2"};
  for (std::size_t i = 0; i < 3; ++i) {
    write_batch b = one_put(database::sessions, keys[i], "s");
    b.on_complete([&, i](std::optional<storage_error> e) {
      outcomes[i] = std::move(e);
      done.fetch_add(1);
    });
    REQUIRE(writer.submit(std::move(b)));
  }
  writer.stop();
  REQUIRE(done.load() == 3);
  CHECK_FALSE(outcomes[0].has_value());
  REQUIRE(outcomes[1].has_value());
  CHECK(outcomes[1]->code() == storage_errc::invalid_write);
  CHECK(std::string(outcomes[1]->what()).find("longer than the") != std::string::npos);
  CHECK_FALSE(outcomes[2].has_value());

  // An empty key is refused the same way.
  group_commit second(env, window_of(0us));
  std::optional<storage_error> empty = write_and_wait(second, one_put(database::sessions, "", "s"));
  REQUIRE(empty.has_value());
  CHECK(empty->code() == storage_errc::invalid_write);
}

TEST_CASE("storage erase and erase_prefix remove exactly their keys") {
  temp_dir tmp;
  storage_env env(tmp.path(), {});
  group_commit writer(env, window_of(0us));
  write_batch fill;
  for (std::uint64_t seq : {1, 2, 3})
    fill.put(database::queues, queue_key("a", seq), "a" + std::to_string(seq));
  for (std::uint64_t seq : {1, 2})
    fill.put(database::queues, queue_key("ab", seq), "ab" + std::to_string(seq));
  fill.put(database::queues, queue_key("b", 7), "b7");
  fill.put(database::sessions, "a", "session a");
  REQUIRE_FALSE(write_and_wait(writer, std::move(fill)).has_value());

  write_batch drop;
  drop.erase_prefix(database::queues, queue_prefix("a"));
  drop.erase(database::sessions, "a");
  drop.erase(database::sessions, "never-written");  // not an error
  REQUIRE_FALSE(write_and_wait(writer, std::move(drop)).has_value());

  std::vector<std::string> left;
  storage_result<std::size_t> n =
      load_all(env, database::queues, [&](auto, std::string_view v) { left.emplace_back(v); });
  REQUIRE(n.has_value());
  // Queue keys sort by the length of the client id first (the length byte).
  CHECK(left == std::vector<std::string>{"b7", "ab1", "ab2"});
  CHECK_FALSE(read_value(env, database::sessions, "a").has_value());
}

TEST_CASE("storage read_txn scans a client's queue in sequence order") {
  temp_dir tmp;
  storage_env env(tmp.path(), {});
  group_commit writer(env, window_of(0us));
  const std::uint64_t sequences[] = {1ULL << 40, 256, 1, 255, 65536, 2};
  write_batch b;
  for (std::uint64_t seq : sequences)
    b.put(database::queues, queue_key("vehicle", seq), std::to_string(seq));
  b.put(database::queues, queue_key("vehicle-2", 0), "other client");
  b.put(database::queues, queue_key("vehicl", 3), "other client");
  REQUIRE_FALSE(write_and_wait(writer, std::move(b)).has_value());

  storage_result<read_txn> txn = read_txn::begin(env);
  REQUIRE(txn.has_value());
  std::vector<std::uint64_t> seen;
  storage_result<std::size_t> n = txn->for_each(
      database::queues, queue_prefix("vehicle"), [&](std::string_view key, std::string_view value) {
        storage_result<std::uint64_t> seq = queue_sequence_of(key);
        REQUIRE(seq.has_value());
        CHECK(value == std::to_string(*seq));
        seen.push_back(*seq);
      });
  REQUIRE(n.has_value());
  CHECK(*n == 6);
  CHECK(seen == std::vector<std::uint64_t>{1, 2, 255, 256, 65536, 1ULL << 40});
}

TEST_CASE("storage read_txn may be used on another thread than the one that began it") {
  temp_dir tmp;
  storage_env env(tmp.path(), {});
  group_commit writer(env, window_of(0us));
  REQUIRE_FALSE(write_and_wait(writer, one_put(database::sessions, "c", "before")).has_value());

  storage_result<read_txn> txn = read_txn::begin(env);
  REQUIRE(txn.has_value());
  // A later commit does not change the snapshot.
  REQUIRE_FALSE(write_and_wait(writer, one_put(database::sessions, "c", "after")).has_value());
  std::string seen;
  std::thread other([&] {
    storage_result<std::optional<std::string_view>> v = txn->get(database::sessions, "c");
    if (v && *v) seen = std::string(**v);
  });
  other.join();
  CHECK(seen == "before");
  CHECK(read_value(env, database::sessions, "c") == "after");
}

TEST_CASE("storage an empty batch completes after the writes submitted before it") {
  temp_dir tmp;
  storage_env env(tmp.path(), {});
  group_commit writer(env, window_of(1000us));
  std::atomic<bool> first_done{false};
  write_batch first = one_put(database::sessions, "c", "s");
  first.on_complete([&](std::optional<storage_error>) { first_done = true; });
  REQUIRE(writer.submit(std::move(first)));
  CHECK_FALSE(write_and_wait(writer, write_batch{}).has_value());
  CHECK(first_done.load());
}
