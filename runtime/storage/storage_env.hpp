#pragma once

#include <lmdb.h>
#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string_view>

#include "runtime/storage/data_dir_lock.hpp"
#include "runtime/storage/database.hpp"
#include "runtime/storage/lmdb_txn.hpp"

namespace convoy::storage {

// When a committed write is on disk. docs/CONFIG.md (storage.sync) has the
// operator's view.
enum class durability : std::uint8_t {
  // Every group commit is flushed to disk before its callers hear of it.
  // Survives process kills and power loss.
  sync,
  // Commits go to the OS page cache (LMDB MDB_NOSYNC) and the OS writes them
  // back later. Survives process kills, not power loss or a kernel crash,
  // which lose the commits not yet written back and, on file systems that
  // reorder writes, can leave the environment unreadable.
  nosync,
};

struct env_options {
  std::uint64_t map_size_mb = 1024;  // most the data file may grow to
  storage::durability durability = durability::sync;
};

// The node's LMDB environment: one per data dir, opened once at start-up and
// shared (by reference) by every reader and the group commit writer, which
// must all be gone before it is destroyed.
//
// Opening creates the data dir if needed, takes the data dir lock, and
// either initialises a fresh environment (all databases, schema version) or
// checks an existing one. It refuses, by throwing storage_error with the
// path and the problem, a dir locked by another node, a data.mdb that is
// not LMDB or not Convoy's, and a schema version this build does not know.
//
// Read transactions may be begun on any thread and used across threads
// (MDB_NOTLS), which suits actors that migrate between scheduler threads.
class storage_env {
 public:
  // The schema this build writes and reads. A schema change that old code
  // cannot read bumps it, and opening then refuses newer environments
  // instead of misreading them.
  // Version 2 added the 'vehicles' database (the device registry).
  static constexpr std::uint32_t current_schema_version = 6;
  // Key of the schema version in the meta database; the value is a
  // big-endian uint32.
  static constexpr std::string_view schema_version_key = "schema_version";
  // LMDB's data file inside the data dir.
  static constexpr const char* data_file_name = "data.mdb";

  storage_env(const std::filesystem::path& data_dir, env_options options);
  ~storage_env();
  storage_env(const storage_env&) = delete;
  storage_env& operator=(const storage_env&) = delete;

  const std::filesystem::path& data_dir() const noexcept { return data_dir_; }
  const env_options& options() const noexcept { return options_; }
  MDB_env* handle() const noexcept { return env_.get(); }
  MDB_dbi dbi(database db) const noexcept { return dbis_[static_cast<std::size_t>(db)]; }
  // Longest key LMDB accepts (511 bytes with Debian's build).
  std::size_t max_key_size() const noexcept { return max_key_size_; }

  // A write transaction. LMDB allows one at a time per environment and
  // blocks the others, so outside start-up and tests every write goes
  // through group_commit, whose thread is the only writer.
  storage_result<lmdb_txn> begin_write() const;

 private:
  struct env_closer {
    void operator()(MDB_env* env) const noexcept { mdb_env_close(env); }
  };

  void open_environment();
  void open_databases();

  std::filesystem::path data_dir_;
  env_options options_;
  std::unique_ptr<data_dir_lock> lock_;
  std::unique_ptr<MDB_env, env_closer> env_;
  std::array<MDB_dbi, database_count> dbis_{};
  std::size_t max_key_size_ = 0;
};

}  // namespace convoy::storage
