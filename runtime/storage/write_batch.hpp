#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "runtime/storage/database.hpp"
#include "runtime/storage/storage_error.hpp"

namespace convoy::storage {

enum class write_kind : std::uint8_t {
  put,           // store value under key, replacing any value
  erase,         // remove key; a missing key is not an error
  erase_prefix,  // remove every key starting with `key` (a client's queue, say)
};

struct write_op {
  write_kind kind = write_kind::put;
  database db = database::meta;
  std::string key;
  std::string value;  // put only
};

// Called exactly once per accepted batch, on the group commit's writer
// thread, with nullopt once the batch is durable or with the error that
// kept it from being committed. It delays every later commit while it runs,
// so it should only hand the outcome on (send an actor message, post to an
// io_context) and must not throw or wait for the storage layer.
using write_completion = std::function<void(std::optional<storage_error>)>;

// Writes that become durable together or not at all: a caller's unit of
// atomicity. Keys and values are byte strings (std::string, as leveldb and
// the MQTT codec use for binary data).
class write_batch {
 public:
  write_batch() = default;
  explicit write_batch(write_completion on_complete) : on_complete_(std::move(on_complete)) {}

  void put(database db, std::string key, std::string value);
  void erase(database db, std::string key);
  void erase_prefix(database db, std::string prefix);
  void on_complete(write_completion fn) { on_complete_ = std::move(fn); }

  const std::vector<write_op>& ops() const noexcept { return ops_; }
  std::size_t op_count() const noexcept { return ops_.size(); }
  // Key and value bytes of all operations.
  std::size_t byte_count() const noexcept { return bytes_; }
  bool empty() const noexcept { return ops_.empty(); }

  // Calls the completion, if any, and forgets it so that it runs only once.
  void complete(std::optional<storage_error> outcome);

 private:
  std::vector<write_op> ops_;
  std::size_t bytes_ = 0;
  write_completion on_complete_;
};

}  // namespace convoy::storage
