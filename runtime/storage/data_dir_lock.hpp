#pragma once

#include <filesystem>

namespace convoy::storage {

// An exclusive lock on a node's data dir, so that two nodes (or one node
// twice, in one process) never open the same LMDB environment: LMDB itself
// forbids opening an environment twice in one process, and two brokers
// writing one session store would corrupt each other's state.
//
// The lock is flock(LOCK_EX | LOCK_NB) on <data_dir>/convoy.lock, which also
// holds the holder's pid for the error message. The kernel releases it when
// the holder exits, however it exits, so a kill -9 leaves no stale lock; the
// pid in the file is only informative.
class data_dir_lock {
 public:
  static constexpr const char* file_name = "convoy.lock";

  // Takes the lock. Throws storage_error: in_use with "data dir X is in use
  // by another node (pid N)", or io when the lock file cannot be opened.
  explicit data_dir_lock(const std::filesystem::path& data_dir);
  ~data_dir_lock();
  data_dir_lock(const data_dir_lock&) = delete;
  data_dir_lock& operator=(const data_dir_lock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace convoy::storage
