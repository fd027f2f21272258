#include "runtime/storage/lmdb_cursor.hpp"

namespace convoy::storage {

storage_result<lmdb_cursor> lmdb_cursor::open(MDB_txn* txn, MDB_dbi dbi) {
  MDB_cursor* cursor = nullptr;
  int rc = mdb_cursor_open(txn, dbi, &cursor);
  if (rc != 0) return lmdb_error(rc, "opening a cursor");
  return lmdb_cursor(cursor);
}

}  // namespace convoy::storage
