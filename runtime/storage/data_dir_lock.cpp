#include "runtime/storage/data_dir_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <string>

#include "runtime/storage/storage_error.hpp"

namespace convoy::storage {

namespace {

std::string errno_text(int err) {
  return std::strerror(err);
}

// The pid the holder wrote, or "unknown" while it has not written it yet (it
// truncates the file right after taking the lock) or the file was edited.
std::string holder_pid(int fd) {
  char buf[32] = {};
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return "unknown";
  std::string pid(buf, static_cast<std::size_t>(n));
  while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' '))
    pid.pop_back();
  if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) return "unknown";
  return pid;
}

}  // namespace

data_dir_lock::data_dir_lock(const std::filesystem::path& data_dir) {
  const std::filesystem::path path = data_dir / file_name;
  // O_CLOEXEC: a child the node spawns must not inherit, and so keep, the lock.
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    int err = errno;
    throw storage_error(storage_errc::io,
                        "cannot open lock file " + path.string() + ": " + errno_text(err));
  }
  if (flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    std::string message;
    storage_errc code = storage_errc::io;
    if (err == EWOULDBLOCK) {
      code = storage_errc::in_use;
      message = "data dir " + data_dir.string() + " is in use by another node (pid " +
                holder_pid(fd_) + ")";
    } else {
      message = "cannot lock " + path.string() + ": " + errno_text(err);
    }
    ::close(fd_);
    fd_ = -1;
    throw storage_error(code, message);
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (ftruncate(fd_, 0) != 0 ||
      pwrite(fd_, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    int err = errno;
    ::close(fd_);
    fd_ = -1;
    throw storage_error(storage_errc::io,
                        "cannot write pid to lock file " + path.string() + ": " + errno_text(err));
  }
}

data_dir_lock::~data_dir_lock() {
  // Closing releases the lock. The file stays: removing it would let a node
  // that opened it just before the unlink lock an orphaned inode while a
  // third one creates and locks a fresh file, and both would run.
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace convoy::storage
