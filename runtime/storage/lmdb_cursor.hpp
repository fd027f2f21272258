#pragma once

#include <lmdb.h>
#include <utility>

#include "runtime/storage/storage_result.hpp"

namespace convoy::storage {

// Owns one MDB_cursor. LMDB frees a write transaction's cursors itself when
// the transaction ends, so a cursor on a write transaction must be destroyed
// before that transaction commits or aborts; on a read transaction either
// order is fine.
class lmdb_cursor {
 public:
  lmdb_cursor(lmdb_cursor&& other) noexcept : cursor_(std::exchange(other.cursor_, nullptr)) {}
  lmdb_cursor& operator=(lmdb_cursor&&) = delete;
  lmdb_cursor(const lmdb_cursor&) = delete;
  lmdb_cursor& operator=(const lmdb_cursor&) = delete;
  ~lmdb_cursor() {
    if (cursor_ != nullptr) mdb_cursor_close(cursor_);
  }

  static storage_result<lmdb_cursor> open(MDB_txn* txn, MDB_dbi dbi);

  // mdb_cursor_get's return code: 0, MDB_NOTFOUND at either end, or an error.
  int get(MDB_val& key, MDB_val& value, MDB_cursor_op op) noexcept {
    return mdb_cursor_get(cursor_, &key, &value, op);
  }
  // Deletes the record under the cursor (write transactions only).
  int erase_current() noexcept { return mdb_cursor_del(cursor_, 0); }

 private:
  explicit lmdb_cursor(MDB_cursor* cursor) noexcept : cursor_(cursor) {}
  MDB_cursor* cursor_ = nullptr;
};

}  // namespace convoy::storage
