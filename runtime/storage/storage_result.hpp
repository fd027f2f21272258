#pragma once

#include <cassert>
#include <utility>
#include <variant>

#include "runtime/storage/storage_error.hpp"

namespace convoy::storage {

// A value or the storage_error that prevented it: the return type of every
// read and decode, which run where exceptions are unwelcome (actor handlers,
// the writer thread). std::expected arrives with C++23; this is the subset
// the storage layer needs.
template <class T>
class storage_result {
 public:
  storage_result(T value) : state_(std::in_place_index<0>, std::move(value)) {}
  storage_result(storage_error error) : state_(std::in_place_index<1>, std::move(error)) {}

  bool has_value() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & {
    assert(has_value());
    return std::get<0>(state_);
  }
  const T& value() const& {
    assert(has_value());
    return std::get<0>(state_);
  }
  T&& value() && {
    assert(has_value());
    return std::get<0>(std::move(state_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const storage_error& error() const {
    assert(!has_value());
    return std::get<1>(state_);
  }

 private:
  std::variant<T, storage_error> state_;
};

}  // namespace convoy::storage
