#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace convoy::storage {

// What kind of failure a storage_error is, for callers that react
// differently (refuse a PUBLISH with "quota exceeded" on map_full, stop the
// node on corrupt) rather than only log the message.
enum class storage_errc : std::uint8_t {
  io,                  // the file system refused: creating the data dir, the lock file, ...
  in_use,              // another node holds the data dir's lock
  foreign_data,        // the data dir holds files that are not Convoy storage
  corrupt,             // Convoy storage, but inconsistent (missing database, bad meta record)
  unsupported_schema,  // a schema version this build cannot read
  map_full,            // the LMDB map (storage.map_size_mb) has no room left
  invalid_write,       // a write that LMDB can never accept (empty or oversized key)
  bad_record,          // a stored record that does not decode
  lmdb,                // any other LMDB failure
};

// The one error type of the storage layer. Opening throws it; the write path
// hands it to completion callbacks and the read path returns it, because
// those run on actor and writer threads where an exception has nowhere
// useful to go. what() is a complete sentence for an operator: it names the
// path or key involved and, where there is one, the remedy.
class storage_error : public std::runtime_error {
 public:
  storage_error(storage_errc code, const std::string& message)
      : std::runtime_error(message), code_(code) {}

  storage_errc code() const noexcept { return code_; }
  std::string_view message() const noexcept { return what(); }

 private:
  storage_errc code_;
};

// An error for LMDB return code `rc` while doing `context` ("opening ...",
// "committing ..."): mdb_strerror's text, classified by code.
storage_error lmdb_error(int rc, std::string_view context);

// The error every caller of a write that did not fit into the map gets.
storage_error map_full_error(std::uint64_t map_size_mb);

}  // namespace convoy::storage
