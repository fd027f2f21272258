#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string_view>

#include "runtime/storage/database.hpp"
#include "runtime/storage/lmdb_txn.hpp"
#include "runtime/storage/storage_env.hpp"
#include "runtime/storage/storage_result.hpp"

namespace convoy::storage {

// Called with each record of a scan; the views point into the memory map
// and are valid until the read_txn that produced them ends.
using record_visitor = std::function<void(std::string_view key, std::string_view value)>;

// A read-only snapshot of the environment: what every commit up to its
// beginning wrote, unaffected by later ones. Usable from any thread, one
// thread at a time. Each live read_txn holds one of LMDB's reader slots (126)
// and keeps the pages of its snapshot from being reused, so hold one for a
// lookup or a scan, not for an actor's lifetime.
class read_txn {
 public:
  static storage_result<read_txn> begin(const storage_env& env);

  // The value stored under key, or nullopt when there is none.
  storage_result<std::optional<std::string_view>> get(database db, std::string_view key) const;

  // Visits the records whose key starts with prefix, in key order (all of
  // them for an empty prefix). The number visited, or the error that stopped
  // the scan.
  storage_result<std::size_t> for_each(database db, std::string_view prefix,
                                       const record_visitor& visit) const;

  // Visits the records whose key sorts after `after` (all for an empty
  // one), in key order, while visit returns true: a page of a listing.
  storage_result<std::size_t> for_each_after(
      database db, std::string_view after,
      const std::function<bool(std::string_view key, std::string_view value)>& visit) const;

  // The largest key of db (bytewise), or nullopt when db is empty.
  storage_result<std::optional<std::string_view>> last_key(database db) const;

  MDB_txn* handle() const noexcept { return txn_.get(); }

 private:
  read_txn(const storage_env& env, lmdb_txn txn) : env_(&env), txn_(std::move(txn)) {}
  const storage_env* env_;
  lmdb_txn txn_;
};

// Visits every record of db in key order in one snapshot: the start-up
// restore of sessions, queues and retained messages. The number visited.
storage_result<std::size_t> load_all(const storage_env& env, database db,
                                     const record_visitor& visit);

}  // namespace convoy::storage
