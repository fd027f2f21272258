#pragma once

#include <lmdb.h>
#include <utility>

#include "runtime/storage/storage_result.hpp"

namespace convoy::storage {

// Owns one MDB_txn: aborted on destruction unless committed, so an early
// return or exception can never leave LMDB's writer lock held or a reader
// slot taken.
class lmdb_txn {
 public:
  lmdb_txn() = default;
  lmdb_txn(lmdb_txn&& other) noexcept : txn_(std::exchange(other.txn_, nullptr)) {}
  lmdb_txn& operator=(lmdb_txn&& other) noexcept;
  lmdb_txn(const lmdb_txn&) = delete;
  lmdb_txn& operator=(const lmdb_txn&) = delete;
  ~lmdb_txn() { abort(); }

  // flags: 0 for a write transaction, MDB_RDONLY for a read one. A parent
  // makes a nested write transaction, which commits into the parent.
  static storage_result<lmdb_txn> begin(MDB_env* env, unsigned flags, MDB_txn* parent = nullptr);

  MDB_txn* get() const noexcept { return txn_; }
  explicit operator bool() const noexcept { return txn_ != nullptr; }

  // mdb_txn_commit's return code. LMDB frees the transaction whatever the
  // outcome, so afterwards this object is empty either way.
  int commit() noexcept;
  // Harmless on an empty object.
  void abort() noexcept;

 private:
  explicit lmdb_txn(MDB_txn* txn) noexcept : txn_(txn) {}
  MDB_txn* txn_ = nullptr;
};

}  // namespace convoy::storage
