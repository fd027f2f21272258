#include "runtime/storage/group_commit.hpp"

#include <pthread.h>
#include <algorithm>
#include <cassert>
#include <optional>
#include <string>

#include "runtime/storage/lmdb_cursor.hpp"
#include "runtime/storage/lmdb_val.hpp"

namespace convoy::storage {

namespace {

// Why LMDB can never accept op, whatever else is in the transaction, or
// nullopt. Checked before a batch joins a transaction, so that one caller's
// bad key cannot fail the other callers' batches of the same group.
std::optional<storage_error> check_op(const write_op& op, const storage_env& env) {
  const bool prefix = op.kind == write_kind::erase_prefix;
  if (!prefix && op.key.empty()) {
    return storage_error(storage_errc::invalid_write,
                         "empty key for database '" + std::string(name_of(op.db)) + "'");
  }
  if (op.key.size() > env.max_key_size()) {
    return storage_error(storage_errc::invalid_write,
                         "key of " + std::to_string(op.key.size()) + " bytes for database '" +
                             std::string(name_of(op.db)) + "', longer than the " +
                             std::to_string(env.max_key_size()) + " bytes LMDB accepts");
  }
  return std::nullopt;
}

std::optional<storage_error> check_batch(const write_batch& batch, const storage_env& env) {
  for (const write_op& op : batch.ops()) {
    if (auto error = check_op(op, env)) return error;
  }
  return std::nullopt;
}

storage_error write_error(int rc, const storage_env& env, std::string_view what) {
  if (rc == MDB_MAP_FULL) return map_full_error(env.options().map_size_mb);
  return lmdb_error(rc, what);
}

std::optional<storage_error> erase_prefix(MDB_txn* txn, const storage_env& env,
                                          const write_op& op) {
  const std::string context = "erasing from database '" + std::string(name_of(op.db)) + "'";
  // The cursor is destroyed before the transaction ends, as LMDB requires
  // for cursors of write transactions.
  storage_result<lmdb_cursor> cursor = lmdb_cursor::open(txn, env.dbi(op.db));
  if (!cursor) return cursor.error();
  MDB_val key = to_mdb_val(op.key);
  MDB_val value{};
  int rc = cursor->get(key, value, op.key.empty() ? MDB_FIRST : MDB_SET_RANGE);
  while (rc == 0 && to_view(key).starts_with(op.key)) {
    if (int del = cursor->erase_current(); del != 0) return write_error(del, env, context);
    // After a delete LMDB leaves the cursor on the following record and
    // MDB_NEXT returns that one rather than skipping it.
    rc = cursor->get(key, value, MDB_NEXT);
  }
  if (rc != 0 && rc != MDB_NOTFOUND) return write_error(rc, env, context);
  return std::nullopt;
}

std::optional<storage_error> apply_op(MDB_txn* txn, const storage_env& env, const write_op& op) {
  MDB_val key = to_mdb_val(op.key);
  switch (op.kind) {
    case write_kind::put: {
      MDB_val value = to_mdb_val(op.value);
      if (int rc = mdb_put(txn, env.dbi(op.db), &key, &value, 0); rc != 0) {
        return write_error(rc, env, "writing to database '" + std::string(name_of(op.db)) + "'");
      }
      return std::nullopt;
    }
    case write_kind::erase: {
      int rc = mdb_del(txn, env.dbi(op.db), &key, nullptr);
      if (rc != 0 && rc != MDB_NOTFOUND) {
        return write_error(rc, env, "erasing from database '" + std::string(name_of(op.db)) + "'");
      }
      return std::nullopt;
    }
    case write_kind::erase_prefix:
      return erase_prefix(txn, env, op);
  }
  return std::nullopt;
}

std::optional<storage_error> apply_batch(MDB_txn* txn, const storage_env& env,
                                         const write_batch& batch) {
  for (const write_op& op : batch.ops()) {
    if (auto error = apply_op(txn, env, op)) return error;
  }
  return std::nullopt;
}

storage_error commit_error(int rc, const storage_env& env) {
  return write_error(rc, env, "committing to " + env.data_dir().string());
}

}  // namespace

group_commit::group_commit(const storage_env& env, group_commit_options options)
    : env_(env), options_(options), writer_([this] { run(); }) {}

group_commit::~group_commit() {
  stop();
}

bool group_commit::submit(write_batch&& batch) {
  // An empty batch still costs a slot: it is a barrier whose completion says
  // that everything submitted before it is durable.
  const std::size_t cost = std::max<std::size_t>(batch.op_count(), 1);
  bool wake_writer = false;
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || cost > options_.max_pending_ops ||
        pending_ops_ > options_.max_pending_ops - cost) {
      counters_.refused_submissions.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    // The writer sleeps until a first batch arrives, then until the window
    // ends or a full group is pending; only those two moments need waking it.
    wake_writer = pending_.empty() || (pending_ops_ < options_.max_batch_ops &&
                                       pending_ops_ + cost >= options_.max_batch_ops);
    pending_.push_back({std::move(batch), clock::now(), cost});
    pending_ops_ += cost;
  }
  if (wake_writer) wake_.notify_one();
  return true;
}

void group_commit::stop() {
  std::lock_guard stop_lock(stop_mutex_);
  // From a completion, join would wait for the thread that is calling it.
  assert(std::this_thread::get_id() != writer_.get_id());
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (writer_.joinable()) writer_.join();
}

void group_commit::run() noexcept {
  pthread_setname_np(pthread_self(), "convoy-commit");
  std::vector<pending_batch> group;
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return !pending_.empty() || stopping_; });
    if (pending_.empty()) return;  // stopping, and everything is committed
    // While stopping, commit at once instead of waiting out the window.
    const clock::time_point deadline = pending_.front().submitted_at + options_.commit_window;
    wake_.wait_until(lock, deadline,
                     [&] { return stopping_ || pending_ops_ >= options_.max_batch_ops; });
    take_group(group);
    lock.unlock();
    commit_group(group);
    group.clear();
    lock.lock();
  }
}

void group_commit::take_group(std::vector<pending_batch>& group) {
  std::size_t ops = 0;
  while (!pending_.empty()) {
    pending_batch& oldest = pending_.front();
    if (!group.empty() && ops + oldest.cost > options_.max_batch_ops) break;
    ops += oldest.cost;
    pending_ops_ -= oldest.cost;
    group.push_back(std::move(oldest));
    pending_.pop_front();
  }
}

void group_commit::commit_group(std::vector<pending_batch>& group) {
  const clock::time_point started = clock::now();
  // Per batch: nullopt while it is (or is about to be) committed, else why not.
  std::vector<std::optional<storage_error>> outcome(group.size());
  std::size_t writable = 0;
  for (std::size_t i = 0; i < group.size(); ++i) {
    outcome[i] = check_batch(group[i].batch, env_);
    if (!outcome[i]) ++writable;
  }

  if (writable > 0) {
    std::optional<storage_error> failure = commit_together(group, outcome);
    // Some batch failed and took the transaction with it. Redo the group
    // with a nested transaction per batch, so that the batches that fit are
    // still committed and only the failing ones are told. Nested
    // transactions cost a large allocation each, which is why the common
    // case does without them.
    if (failure && writable > 1) failure = commit_separately(group, outcome);
    if (failure) {
      for (std::optional<storage_error>& o : outcome) {
        if (!o) o = failure;
      }
    }
  }

  std::uint64_t ops = 0;
  std::uint64_t bytes = 0;
  std::size_t succeeded = 0;
  for (std::size_t i = 0; i < group.size(); ++i) {
    if (outcome[i]) continue;
    ++succeeded;
    ops += group[i].batch.op_count();
    bytes += group[i].batch.byte_count();
  }
  if (succeeded > 0) {
    const auto us = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - started).count());
    counters_.commits.fetch_add(1, std::memory_order_relaxed);
    counters_.ops.fetch_add(ops, std::memory_order_relaxed);
    counters_.bytes.fetch_add(bytes, std::memory_order_relaxed);
    counters_.last_commit_us.store(us, std::memory_order_relaxed);
    counters_.total_commit_us.fetch_add(us, std::memory_order_relaxed);
    if (options_.on_commit) options_.on_commit(us);
  } else if (writable > 0) {
    counters_.failed_commits.fetch_add(1, std::memory_order_relaxed);
  }
  counters_.failed_batches.fetch_add(group.size() - succeeded, std::memory_order_relaxed);

  for (std::size_t i = 0; i < group.size(); ++i)
    group[i].batch.complete(std::move(outcome[i]));
}

std::optional<storage_error> group_commit::commit_together(
    const std::vector<pending_batch>& group,
    const std::vector<std::optional<storage_error>>& outcome) {
  storage_result<lmdb_txn> txn = env_.begin_write();
  if (!txn) return txn.error();
  for (std::size_t i = 0; i < group.size(); ++i) {
    if (outcome[i]) continue;
    if (auto error = apply_batch(txn->get(), env_, group[i].batch)) return error;
  }
  if (int rc = txn->commit(); rc != 0) return commit_error(rc, env_);
  return std::nullopt;
}

std::optional<storage_error> group_commit::commit_separately(
    const std::vector<pending_batch>& group, std::vector<std::optional<storage_error>>& outcome) {
  storage_result<lmdb_txn> parent = env_.begin_write();
  if (!parent) return parent.error();
  for (std::size_t i = 0; i < group.size(); ++i) {
    if (outcome[i]) continue;
    storage_result<lmdb_txn> child = lmdb_txn::begin(env_.handle(), 0, parent->get());
    if (!child) {
      outcome[i] = child.error();
    } else if (auto error = apply_batch(child->get(), env_, group[i].batch)) {
      outcome[i] = std::move(error);  // the child aborts, leaving the parent as it was
    } else if (int rc = child->commit(); rc != 0) {
      outcome[i] = commit_error(rc, env_);
    }
  }
  if (int rc = parent->commit(); rc != 0) return commit_error(rc, env_);
  return std::nullopt;
}

}  // namespace convoy::storage
