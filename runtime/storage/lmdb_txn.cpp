#include "runtime/storage/lmdb_txn.hpp"

namespace convoy::storage {

lmdb_txn& lmdb_txn::operator=(lmdb_txn&& other) noexcept {
  if (this != &other) {
    abort();
    txn_ = std::exchange(other.txn_, nullptr);
  }
  return *this;
}

storage_result<lmdb_txn> lmdb_txn::begin(MDB_env* env, unsigned flags, MDB_txn* parent) {
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(env, parent, flags, &txn);
  if (rc != 0) {
    return lmdb_error(rc, (flags & MDB_RDONLY) != 0 ? "beginning a read transaction"
                                                    : "beginning a write transaction");
  }
  return lmdb_txn(txn);
}

int lmdb_txn::commit() noexcept {
  return mdb_txn_commit(std::exchange(txn_, nullptr));
}

void lmdb_txn::abort() noexcept {
  if (txn_ != nullptr) mdb_txn_abort(std::exchange(txn_, nullptr));
}

}  // namespace convoy::storage
