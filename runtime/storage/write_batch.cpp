#include "runtime/storage/write_batch.hpp"

#include <utility>

namespace convoy::storage {

void write_batch::put(database db, std::string key, std::string value) {
  bytes_ += key.size() + value.size();
  ops_.push_back({write_kind::put, db, std::move(key), std::move(value)});
}

void write_batch::erase(database db, std::string key) {
  bytes_ += key.size();
  ops_.push_back({write_kind::erase, db, std::move(key), {}});
}

void write_batch::erase_prefix(database db, std::string prefix) {
  bytes_ += prefix.size();
  ops_.push_back({write_kind::erase_prefix, db, std::move(prefix), {}});
}

void write_batch::complete(std::optional<storage_error> outcome) {
  if (write_completion fn = std::exchange(on_complete_, nullptr)) fn(std::move(outcome));
}

}  // namespace convoy::storage
