#pragma once

#include <lmdb.h>
#include <string_view>

namespace convoy::storage {

// LMDB's MDB_val for bytes we pass in. LMDB never writes through a key or
// value it is given (mdb_put copies, mdb_get only reads the key), so casting
// away const is safe.
inline MDB_val to_mdb_val(std::string_view bytes) noexcept {
  return MDB_val{bytes.size(), const_cast<char*>(bytes.data())};
}

// A view of bytes LMDB hands out: they live in the memory map and stay valid
// until the transaction that read them ends.
inline std::string_view to_view(const MDB_val& val) noexcept {
  return {static_cast<const char*>(val.mv_data), val.mv_size};
}

}  // namespace convoy::storage
