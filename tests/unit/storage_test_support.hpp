#pragma once

// Shared helpers of the storage tests: a temporary data dir and a
// synchronous write through the group commit.

#include <doctest/doctest.h>

#include <stdlib.h>
#include <chrono>
#include <filesystem>
#include <future>
#include <optional>
#include <string>
#include <system_error>

#include "runtime/storage/group_commit.hpp"
#include "runtime/storage/read_txn.hpp"
#include "runtime/storage/storage_env.hpp"
#include "runtime/storage/write_batch.hpp"

namespace convoy::storage::test {

// A fresh directory under /tmp, removed with everything in it.
class temp_dir {
 public:
  temp_dir() {
    std::string pattern = "/tmp/convoy-storage-test-XXXXXX";
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Submits batch and waits for its completion: its outcome.
inline std::optional<storage_error> write_and_wait(group_commit& writer, write_batch batch) {
  auto done = std::make_shared<std::promise<std::optional<storage_error>>>();
  std::future<std::optional<storage_error>> outcome = done->get_future();
  batch.on_complete([done](std::optional<storage_error> e) { done->set_value(std::move(e)); });
  REQUIRE(writer.submit(std::move(batch)));
  REQUIRE(outcome.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
  return outcome.get();
}

// The value under key, or nullopt; fails the test on a read error.
inline std::optional<std::string> read_value(const storage_env& env, database db,
                                             std::string_view key) {
  storage_result<read_txn> txn = read_txn::begin(env);
  REQUIRE_MESSAGE(txn.has_value(), (txn ? "" : txn.error().what()));
  storage_result<std::optional<std::string_view>> value = txn->get(db, key);
  REQUIRE_MESSAGE(value.has_value(), (value ? "" : value.error().what()));
  if (!*value) return std::nullopt;
  return std::string(**value);
}

// The message of the storage_error that opening dir throws, or a test failure.
inline storage_error open_error(const std::filesystem::path& dir, env_options options = {}) {
  try {
    storage_env env(dir, options);
  } catch (const storage_error& e) {
    return e;
  }
  FAIL("opening " << dir.string() << " succeeded where it should fail");
  return storage_error(storage_errc::lmdb, "unreachable");  // FAIL throws
}

}  // namespace convoy::storage::test
