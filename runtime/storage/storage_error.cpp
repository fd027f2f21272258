#include "runtime/storage/storage_error.hpp"

#include <lmdb.h>

namespace convoy::storage {

storage_error lmdb_error(int rc, std::string_view context) {
  storage_errc code = storage_errc::lmdb;
  switch (rc) {
    case MDB_MAP_FULL:
      code = storage_errc::map_full;
      break;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
      code = storage_errc::corrupt;
      break;
    case MDB_BAD_VALSIZE:
      code = storage_errc::invalid_write;
      break;
    default:
      break;
  }
  return storage_error(code, std::string(context) + ": " + mdb_strerror(rc));
}

storage_error map_full_error(std::uint64_t map_size_mb) {
  return storage_error(storage_errc::map_full, "storage full: map size " +
                                                   std::to_string(map_size_mb) +
                                                   " MiB reached; raise storage.map_size_mb");
}

}  // namespace convoy::storage
