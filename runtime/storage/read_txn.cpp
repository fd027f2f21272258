#include "runtime/storage/read_txn.hpp"

#include <string>

#include "runtime/storage/lmdb_cursor.hpp"
#include "runtime/storage/lmdb_val.hpp"

namespace convoy::storage {

storage_result<read_txn> read_txn::begin(const storage_env& env) {
  storage_result<lmdb_txn> txn = lmdb_txn::begin(env.handle(), MDB_RDONLY);
  if (!txn) return txn.error();
  return read_txn(env, std::move(*txn));
}

storage_result<std::optional<std::string_view>> read_txn::get(database db,
                                                              std::string_view key) const {
  MDB_val k = to_mdb_val(key);
  MDB_val v{};
  int rc = mdb_get(txn_.get(), env_->dbi(db), &k, &v);
  if (rc == MDB_NOTFOUND) return std::optional<std::string_view>();
  if (rc != 0) return lmdb_error(rc, "reading from database '" + std::string(name_of(db)) + "'");
  return std::optional<std::string_view>(to_view(v));
}

storage_result<std::size_t> read_txn::for_each(database db, std::string_view prefix,
                                               const record_visitor& visit) const {
  storage_result<lmdb_cursor> cursor = lmdb_cursor::open(txn_.get(), env_->dbi(db));
  if (!cursor) return cursor.error();
  MDB_val key = to_mdb_val(prefix);
  MDB_val value{};
  // MDB_SET_RANGE with an empty key is rejected by LMDB; MDB_FIRST is the
  // same position.
  int rc = cursor->get(key, value, prefix.empty() ? MDB_FIRST : MDB_SET_RANGE);
  std::size_t visited = 0;
  while (rc == 0) {
    std::string_view k = to_view(key);
    if (!k.starts_with(prefix)) break;
    visit(k, to_view(value));
    ++visited;
    rc = cursor->get(key, value, MDB_NEXT);
  }
  if (rc != 0 && rc != MDB_NOTFOUND) {
    return lmdb_error(rc, "scanning database '" + std::string(name_of(db)) + "'");
  }
  return visited;
}

storage_result<std::size_t> read_txn::for_each_after(
    database db, std::string_view after,
    const std::function<bool(std::string_view, std::string_view)>& visit) const {
  storage_result<lmdb_cursor> cursor = lmdb_cursor::open(txn_.get(), env_->dbi(db));
  if (!cursor) return cursor.error();
  MDB_val key = to_mdb_val(after);
  MDB_val value{};
  int rc = cursor->get(key, value, after.empty() ? MDB_FIRST : MDB_SET_RANGE);
  if (rc == 0 && !after.empty() && to_view(key) == after) rc = cursor->get(key, value, MDB_NEXT);
  std::size_t visited = 0;
  while (rc == 0) {
    ++visited;
    if (!visit(to_view(key), to_view(value))) break;
    rc = cursor->get(key, value, MDB_NEXT);
  }
  if (rc != 0 && rc != MDB_NOTFOUND) {
    return lmdb_error(rc, "scanning database '" + std::string(name_of(db)) + "'");
  }
  return visited;
}

storage_result<std::optional<std::string_view>> read_txn::last_key(database db) const {
  storage_result<lmdb_cursor> cursor = lmdb_cursor::open(txn_.get(), env_->dbi(db));
  if (!cursor) return cursor.error();
  MDB_val key{};
  MDB_val value{};
  int rc = cursor->get(key, value, MDB_LAST);
  if (rc == MDB_NOTFOUND) return std::optional<std::string_view>();
  if (rc != 0) return lmdb_error(rc, "reading the last key of '" + std::string(name_of(db)) + "'");
  return std::optional<std::string_view>(to_view(key));
}

storage_result<std::size_t> load_all(const storage_env& env, database db,
                                     const record_visitor& visit) {
  storage_result<read_txn> txn = read_txn::begin(env);
  if (!txn) return txn.error();
  return txn->for_each(db, {}, visit);
}

}  // namespace convoy::storage
