#include <doctest/doctest.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "runtime/storage/storage_env.hpp"
#include "runtime/storage/storage_options.hpp"
#include "storage_test_support.hpp"

using namespace convoy::storage;
using convoy::storage::test::open_error;
using convoy::storage::test::read_value;
using convoy::storage::test::temp_dir;
using convoy::storage::test::write_and_wait;

namespace {

namespace fs = std::filesystem;

const std::string schema_v1("\x00\x00\x00\x01", 4);
const std::string schema_current("\x00\x00\x00\x06", 4);

// Writes `value` as the schema version of the environment in dir, with
// LMDB directly: storage_env would refuse to open it after the first change.
void set_schema_version(const fs::path& dir, const std::string& value) {
  MDB_env* env = nullptr;
  REQUIRE(mdb_env_create(&env) == 0);
  REQUIRE(mdb_env_set_maxdbs(env, database_count) == 0);
  REQUIRE(mdb_env_open(env, dir.c_str(), 0, 0600) == 0);
  MDB_txn* txn = nullptr;
  REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
  MDB_dbi meta = 0;
  REQUIRE(mdb_dbi_open(txn, "meta", 0, &meta) == 0);
  MDB_val key{storage_env::schema_version_key.size(),
              const_cast<char*>(storage_env::schema_version_key.data())};
  MDB_val val{value.size(), const_cast<char*>(value.data())};
  REQUIRE(mdb_put(txn, meta, &key, &val, 0) == 0);
  REQUIRE(mdb_txn_commit(txn) == 0);
  mdb_env_close(env);
}

// Environment variables of the lock holder child (see the test case below).
constexpr const char* holder_dir_variable = "STORAGE_TEST_LOCK_HOLDER_DIR";
constexpr int holder_ready_fd = 100;  // the child writes one byte once it holds the lock
constexpr int holder_hold_fd = 101;   // the child keeps the lock until this reaches EOF
constexpr const char* holder_test_name =
    "storage lock holder (a child process of the cross-process lock test)";

}  // namespace

TEST_CASE("storage opens a fresh dir, creating it and writing the schema version") {
  temp_dir tmp;
  const fs::path dir = tmp.path() / "nested" / "data";
  storage_env env(dir, {});
  CHECK(fs::is_directory(dir));
  CHECK(fs::exists(dir / "data.mdb"));
  CHECK(fs::exists(dir / "convoy.lock"));
  CHECK(read_value(env, database::meta, storage_env::schema_version_key) == schema_current);
  CHECK(env.max_key_size() >= 511);
  for (database db : all_databases) {
    CAPTURE(name_of(db));
    storage_result<read_txn> txn = read_txn::begin(env);
    REQUIRE(txn.has_value());
    CHECK(txn->for_each(db, {}, [](std::string_view, std::string_view) {}).has_value());
  }
}

TEST_CASE("storage reopen keeps the data, in both durability modes") {
  for (durability mode : {durability::sync, durability::nosync}) {
    CAPTURE(static_cast<int>(mode));
    temp_dir tmp;
    {
      storage_env env(tmp.path(), {.map_size_mb = 16, .durability = mode});
      group_commit writer(env, {});
      write_batch batch;
      batch.put(database::sessions, "vehicle-1", "session bytes");
      batch.put(database::retained, "vehicles/1/state", "retained bytes");
      CHECK_FALSE(write_and_wait(writer, std::move(batch)).has_value());
    }
    storage_env env(tmp.path(), {.map_size_mb = 16, .durability = mode});
    CHECK(read_value(env, database::sessions, "vehicle-1") == "session bytes");
    CHECK(read_value(env, database::retained, "vehicles/1/state") == "retained bytes");
    CHECK(read_value(env, database::meta, storage_env::schema_version_key) == schema_current);
  }
}

TEST_CASE("storage upgrades schema version 1 (no vehicles, no consents), keeping the data") {
  temp_dir tmp;
  // A version 1 environment as its build wrote it: six databases.
  {
    MDB_env* env = nullptr;
    REQUIRE(mdb_env_create(&env) == 0);
    REQUIRE(mdb_env_set_maxdbs(env, database_count) == 0);
    REQUIRE(mdb_env_open(env, tmp.path().c_str(), 0, 0600) == 0);
    MDB_txn* txn = nullptr;
    REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
    for (const char* name : {"meta", "sessions", "messages", "queues", "inflight_in", "retained"}) {
      MDB_dbi dbi = 0;
      REQUIRE(mdb_dbi_open(txn, name, MDB_CREATE, &dbi) == 0);
      std::string_view key = std::string_view{name} == "meta" ? storage_env::schema_version_key
                                                              : std::string_view{"k"};
      std::string value = std::string_view{name} == "meta" ? schema_v1 : std::string{name};
      MDB_val k{key.size(), const_cast<char*>(key.data())};
      MDB_val v{value.size(), value.data()};
      REQUIRE(mdb_put(txn, dbi, &k, &v, 0) == 0);
    }
    REQUIRE(mdb_txn_commit(txn) == 0);
    mdb_env_close(env);
  }
  {
    storage_env env(tmp.path(), {});
    CHECK(read_value(env, database::meta, storage_env::schema_version_key) == schema_current);
    CHECK(read_value(env, database::sessions, "k") == "sessions");
    CHECK(read_value(env, database::retained, "k") == "retained");
    storage_result<read_txn> txn = read_txn::begin(env);
    REQUIRE(txn.has_value());
    std::size_t vehicles = 0;
    CHECK(txn->for_each(database::vehicles, {},
                        [&](std::string_view, std::string_view) { ++vehicles; })
              .has_value());
    CHECK(vehicles == 0);
    std::size_t consents = 0;
    CHECK(txn->for_each(database::consents, {},
                        [&](std::string_view, std::string_view) { ++consents; })
              .has_value());
    CHECK(consents == 0);
  }
  // And it opens again as the current version.
  storage_env again(tmp.path(), {});
  CHECK(read_value(again, database::sessions, "k") == "sessions");
}

TEST_CASE("storage refuses a second open of the same dir in the same process") {
  temp_dir tmp;
  storage_env first(tmp.path(), {});
  storage_error e = open_error(tmp.path());
  CHECK(e.code() == storage_errc::in_use);
  CHECK(std::string(e.what()) == "data dir " + tmp.path().string() +
                                     " is in use by another node (pid " +
                                     std::to_string(::getpid()) + ")");
}

TEST_CASE("storage releases the dir lock when closed") {
  temp_dir tmp;
  { storage_env first(tmp.path(), {}); }
  storage_env second(tmp.path(), {});
  CHECK(read_value(second, database::meta, storage_env::schema_version_key) == schema_current);
}

// Runs only when the cross-process test below starts this binary again for
// it; skipped in normal runs.
TEST_CASE(holder_test_name* doctest::skip()) {
  const char* dir = std::getenv(holder_dir_variable);
  REQUIRE(dir != nullptr);
  storage_env env(dir, {});
  char ready = 'R';
  REQUIRE(::write(holder_ready_fd, &ready, 1) == 1);
  char buf;
  while (::read(holder_hold_fd, &buf, 1) > 0) {
  }
}

TEST_CASE("storage refuses a dir another process holds, naming its pid") {
  temp_dir tmp;
  int ready[2];
  int hold[2];
  REQUIRE(pipe2(ready, O_CLOEXEC) == 0);
  REQUIRE(pipe2(hold, O_CLOEXEC) == 0);

  // Everything the child needs is prepared before fork: between fork and
  // exec a child of a multi-threaded process may only make system calls.
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  const std::string filter = std::string("--test-case=") + holder_test_name;
  std::vector<const char*> argv = {self.c_str(), "--no-skip=true", filter.c_str(), "--minimal=true",
                                   nullptr};
  const std::string dir_variable = std::string(holder_dir_variable) + "=" + tmp.path().string();
  std::vector<const char*> envp;
  for (char** e = environ; *e != nullptr; ++e)
    envp.push_back(*e);
  envp.push_back(dir_variable.c_str());
  envp.push_back(nullptr);

  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // dup2 clears O_CLOEXEC on the copies, so exactly these two survive exec.
    if (dup2(ready[1], holder_ready_fd) < 0 || dup2(hold[0], holder_hold_fd) < 0) _exit(126);
    execve(self.c_str(), const_cast<char* const*>(argv.data()),
           const_cast<char* const*>(envp.data()));
    _exit(127);
  }
  ::close(ready[1]);
  ::close(hold[0]);

  pollfd p{ready[0], POLLIN, 0};
  REQUIRE(poll(&p, 1, 30'000) == 1);
  char byte = 0;
  REQUIRE(::read(ready[0], &byte, 1) == 1);
  ::close(ready[0]);

  storage_error e = open_error(tmp.path());
  CHECK(e.code() == storage_errc::in_use);
  CHECK(std::string(e.what()) == "data dir " + tmp.path().string() +
                                     " is in use by another node (pid " + std::to_string(child) +
                                     ")");

  ::close(hold[1]);  // the child lets go and exits
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  storage_env env(tmp.path(), {});  // free again
}

TEST_CASE("storage refuses a newer or unknown schema version") {
  temp_dir tmp;
  const std::string file = (tmp.path() / "data.mdb").string();
  { storage_env fresh(tmp.path(), {}); }
  set_schema_version(tmp.path(), std::string("\x00\x00\x00\x07", 4));
  storage_error newer = open_error(tmp.path());
  CHECK(newer.code() == storage_errc::unsupported_schema);
  CHECK(std::string(newer.what()) ==
        file +
            " holds storage schema version 7, newer than version 6 that this build of Convoy "
            "reads; run a newer Convoy or point node.data_dir at another directory");

  set_schema_version(tmp.path(), std::string(4, '\0'));
  CHECK(open_error(tmp.path()).code() == storage_errc::unsupported_schema);

  set_schema_version(tmp.path(), "1");
  storage_error malformed = open_error(tmp.path());
  CHECK(malformed.code() == storage_errc::corrupt);
  CHECK(std::string(malformed.what()) ==
        file + " has a malformed schema version (1 bytes instead of 4)");
}

TEST_CASE("storage refuses a meta database without a schema version") {
  temp_dir tmp;
  {
    storage_env env(tmp.path(), {});
    storage_result<lmdb_txn> txn = env.begin_write();
    REQUIRE(txn.has_value());
    MDB_val key{storage_env::schema_version_key.size(),
                const_cast<char*>(storage_env::schema_version_key.data())};
    REQUIRE(mdb_del(txn->get(), env.dbi(database::meta), &key, nullptr) == 0);
    REQUIRE(txn->commit() == 0);
  }
  storage_error e = open_error(tmp.path());
  CHECK(e.code() == storage_errc::corrupt);
  CHECK(std::string(e.what()).find("has no schema version") != std::string::npos);
}

TEST_CASE("storage refuses a data.mdb that is not LMDB") {
  for (std::size_t size : {std::size_t{100}, std::size_t{64 * 1024}}) {
    CAPTURE(size);
    temp_dir tmp;
    const fs::path file = tmp.path() / "data.mdb";
    std::ofstream(file, std::ios::binary) << std::string(size, 'x');
    storage_error e = open_error(tmp.path());
    CHECK(e.code() == storage_errc::foreign_data);
    CHECK(std::string(e.what()) ==
          file.string() +
              " is not an LMDB data file (foreign or corrupt); move it away or point "
              "node.data_dir at another directory");
    // Refusing must leave the file as it was.
    CHECK(fs::file_size(file) == size);
  }
}

TEST_CASE("storage refuses an LMDB environment of another application") {
  temp_dir tmp;
  {
    MDB_env* env = nullptr;
    REQUIRE(mdb_env_create(&env) == 0);
    REQUIRE(mdb_env_open(env, tmp.path().c_str(), 0, 0600) == 0);
    MDB_txn* txn = nullptr;
    REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
    MDB_dbi dbi = 0;
    REQUIRE(mdb_dbi_open(txn, nullptr, 0, &dbi) == 0);
    std::string k = "user:1";
    std::string v = "someone else's data";
    MDB_val key{k.size(), k.data()};
    MDB_val val{v.size(), v.data()};
    REQUIRE(mdb_put(txn, dbi, &key, &val, 0) == 0);
    REQUIRE(mdb_txn_commit(txn) == 0);
    mdb_env_close(env);
  }
  storage_error e = open_error(tmp.path());
  CHECK(e.code() == storage_errc::foreign_data);
  CHECK(std::string(e.what()) ==
        (tmp.path() / "data.mdb").string() +
            " is an LMDB environment but not Convoy storage (it has no 'meta' database); move "
            "it away or point node.data_dir at another directory");
}

TEST_CASE("storage reports a data dir it cannot create") {
  temp_dir tmp;
  const fs::path file = tmp.path() / "a-file";
  std::ofstream(file) << "not a directory";
  storage_error below_file = open_error(file / "data");
  CHECK(below_file.code() == storage_errc::io);
  CHECK(std::string(below_file.what())
            .starts_with("cannot create data dir " + (file / "data").string() + ": "));
  storage_error is_file = open_error(file);
  CHECK(is_file.code() == storage_errc::io);
  CHECK(std::string(is_file.what()).find(file.string()) != std::string::npos);
}

TEST_CASE("storage options come from node.data_dir and the [storage] section") {
  convoy::config::node_config config;
  config.node.data_dir = "/var/lib/convoy";
  config.storage.map_size_mb = 64;
  config.storage.sync = "nosync";
  config.storage.commit_window_us = 250;
  config.storage.max_batch_ops = 10;
  config.storage.max_pending_ops = 20;
  storage_options o = storage_options_from(config);
  CHECK(o.data_dir == "/var/lib/convoy");
  CHECK(o.env.map_size_mb == 64);
  CHECK(o.env.durability == durability::nosync);
  CHECK(o.commit.commit_window == std::chrono::microseconds(250));
  CHECK(o.commit.max_batch_ops == 10);
  CHECK(o.commit.max_pending_ops == 20);
  CHECK(storage_options_from(convoy::config::node_config{}).env.durability == durability::sync);
}
