#include "runtime/storage/storage_env.hpp"

#include <cerrno>
#include <limits>
#include <string>
#include <system_error>

#include "runtime/storage/lmdb_val.hpp"
#include "runtime/storage/storage_error.hpp"

namespace convoy::storage {

namespace {

constexpr std::uint64_t mib = 1024 * 1024;

std::string encode_schema_version(std::uint32_t version) {
  std::string bytes(4, '\0');
  for (int i = 0; i < 4; ++i)
    bytes[static_cast<std::size_t>(i)] = static_cast<char>((version >> (24 - 8 * i)) & 0xff);
  return bytes;
}

std::uint32_t decode_schema_version(std::string_view bytes) {
  std::uint32_t version = 0;
  for (char c : bytes)
    version = (version << 8) | static_cast<unsigned char>(c);
  return version;
}

void ensure_directory(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    throw storage_error(storage_errc::io,
                        "cannot create data dir " + dir.string() + ": " + ec.message());
  }
  if (!std::filesystem::is_directory(dir, ec)) {
    throw storage_error(storage_errc::io, "data dir " + dir.string() + " is not a directory");
  }
}

}  // namespace

storage_env::storage_env(const std::filesystem::path& data_dir, env_options options)
    : data_dir_(data_dir), options_(options) {
  ensure_directory(data_dir_);
  // The lock comes first: LMDB must not open an environment another node
  // (or this process) is using.
  lock_ = std::make_unique<data_dir_lock>(data_dir_);
  open_environment();
  open_databases();
  max_key_size_ = static_cast<std::size_t>(mdb_env_get_maxkeysize(env_.get()));
}

storage_env::~storage_env() = default;

storage_result<lmdb_txn> storage_env::begin_write() const {
  return lmdb_txn::begin(env_.get(), 0);
}

void storage_env::open_environment() {
  const std::string file = (data_dir_ / data_file_name).string();
  MDB_env* env = nullptr;
  if (int rc = mdb_env_create(&env); rc != 0) throw lmdb_error(rc, "creating the LMDB environment");
  env_.reset(env);

  if (options_.map_size_mb == 0 ||
      options_.map_size_mb > std::numeric_limits<std::size_t>::max() / mib) {
    throw storage_error(
        storage_errc::io,
        "storage map size of " + std::to_string(options_.map_size_mb) + " MiB is out of range");
  }
  if (int rc = mdb_env_set_mapsize(env, options_.map_size_mb * mib); rc != 0) {
    throw lmdb_error(
        rc, "setting the storage map size to " + std::to_string(options_.map_size_mb) + " MiB");
  }
  if (int rc = mdb_env_set_maxdbs(env, database_count); rc != 0) {
    throw lmdb_error(rc, "setting the number of LMDB databases");
  }

  // MDB_NOTLS ties read transactions to their MDB_txn instead of the thread
  // that began them, so an actor may begin one on one scheduler thread and
  // finish it on another. In sync mode LMDB's own commit flushes data pages
  // and then the meta page, each with fdatasync; MDB_NOSYNC plus one
  // mdb_env_sync per commit would be one flush cheaper but could, on power
  // loss, leave a meta page on disk that points at unwritten data.
  unsigned flags = MDB_NOTLS;
  if (options_.durability == durability::nosync) flags |= MDB_NOSYNC;
  int rc = mdb_env_open(env, data_dir_.c_str(), flags, 0600);
  switch (rc) {
    case 0:
      return;
    case MDB_INVALID:
      throw storage_error(storage_errc::foreign_data,
                          file +
                              " is not an LMDB data file (foreign or corrupt); move it away or "
                              "point node.data_dir at another directory");
    case MDB_VERSION_MISMATCH:
      throw storage_error(storage_errc::foreign_data,
                          file + " was written by an incompatible LMDB version");
    case ENOMEM:
      throw storage_error(storage_errc::io, "cannot map " + std::to_string(options_.map_size_mb) +
                                                " MiB for " + file + ": " + mdb_strerror(rc) +
                                                "; lower storage.map_size_mb");
    default: {
      storage_error e = lmdb_error(rc, "cannot open storage " + file);
      throw storage_error(e.code() == storage_errc::lmdb ? storage_errc::io : e.code(), e.what());
    }
  }
}

void storage_env::open_databases() {
  const std::string file = (data_dir_ / data_file_name).string();
  storage_result<lmdb_txn> begun = begin_write();
  if (!begun) throw begun.error();
  lmdb_txn txn = std::move(*begun);

  const auto not_ours = [&](const std::string& why) {
    return storage_error(storage_errc::foreign_data,
                         file + " is an LMDB environment but not Convoy storage (" + why +
                             "); move it away or point node.data_dir at another directory");
  };

  MDB_dbi meta = 0;
  int rc = mdb_dbi_open(txn.get(), std::string(name_of(database::meta)).c_str(), 0, &meta);
  if (rc == MDB_INCOMPATIBLE) throw not_ours("its 'meta' record is not a database");
  if (rc == MDB_NOTFOUND) {
    // No meta database: a fresh environment if nothing else is in it either
    // (also one whose first start died before its first commit).
    MDB_dbi main_dbi = 0;
    MDB_stat main{};
    if (int st = mdb_dbi_open(txn.get(), nullptr, 0, &main_dbi); st != 0) {
      throw lmdb_error(st, "reading " + file);
    }
    if (int st = mdb_stat(txn.get(), main_dbi, &main); st != 0) {
      throw lmdb_error(st, "reading " + file);
    }
    if (main.ms_entries != 0) throw not_ours("it has no 'meta' database");
    for (database db : all_databases) {
      MDB_dbi& dbi = dbis_[static_cast<std::size_t>(db)];
      if (int cr = mdb_dbi_open(txn.get(), std::string(name_of(db)).c_str(), MDB_CREATE, &dbi);
          cr != 0) {
        throw lmdb_error(cr, "creating database '" + std::string(name_of(db)) + "' in " + file);
      }
    }
    const std::string version = encode_schema_version(current_schema_version);
    MDB_val key = to_mdb_val(schema_version_key);
    MDB_val value = to_mdb_val(version);
    if (int pr = mdb_put(txn.get(), dbi(database::meta), &key, &value, 0); pr != 0) {
      throw lmdb_error(pr, "writing the schema version to " + file);
    }
  } else if (rc != 0) {
    throw lmdb_error(rc, "opening database 'meta' in " + file);
  } else {
    dbis_[static_cast<std::size_t>(database::meta)] = meta;
    MDB_val key = to_mdb_val(schema_version_key);
    MDB_val value{};
    int gr = mdb_get(txn.get(), meta, &key, &value);
    if (gr == MDB_NOTFOUND) {
      throw storage_error(storage_errc::corrupt,
                          file +
                              " has no schema version in its 'meta' database (corrupt, or "
                              "not Convoy storage)");
    }
    if (gr != 0) throw lmdb_error(gr, "reading the schema version of " + file);
    if (value.mv_size != 4) {
      throw storage_error(storage_errc::corrupt, file + " has a malformed schema version (" +
                                                     std::to_string(value.mv_size) +
                                                     " bytes instead of 4)");
    }
    const std::uint32_t version = decode_schema_version(to_view(value));
    if (version > current_schema_version) {
      throw storage_error(storage_errc::unsupported_schema,
                          file + " holds storage schema version " + std::to_string(version) +
                              ", newer than version " + std::to_string(current_schema_version) +
                              " that this build of Convoy reads; run a newer Convoy or point "
                              "node.data_dir at another directory");
    }
    if (version == 0) {
      throw storage_error(storage_errc::unsupported_schema,
                          file + " holds unknown storage schema version 0");
    }
    // Upgrades run here, inside this transaction: version 1 lacks the
    // 'vehicles' database, versions before 3 the 'consents' one, before 4 the
    // 'vehicle_states' one, before 5 the 'commands' one, before 6 the
    // 'definitions' one; they are created empty.
    for (database db : all_databases) {
      if (db == database::meta) continue;
      MDB_dbi& dbi = dbis_[static_cast<std::size_t>(db)];
      const bool added_since =
          (db == database::vehicles && version < 2) || (db == database::consents && version < 3) ||
          (db == database::vehicle_states && version < 4) ||
          (db == database::commands && version < 5) || (db == database::definitions && version < 6);
      int orc = mdb_dbi_open(txn.get(), std::string(name_of(db)).c_str(),
                             added_since ? MDB_CREATE : 0, &dbi);
      if (orc == MDB_NOTFOUND || orc == MDB_INCOMPATIBLE) {
        throw storage_error(storage_errc::corrupt,
                            file + " lacks the '" + std::string(name_of(db)) +
                                "' database of storage schema version " + std::to_string(version));
      }
      if (orc != 0) {
        throw lmdb_error(orc, "opening database '" + std::string(name_of(db)) + "' in " + file);
      }
    }
    if (version < current_schema_version) {
      const std::string upgraded = encode_schema_version(current_schema_version);
      MDB_val upgraded_value = to_mdb_val(upgraded);
      if (int pr = mdb_put(txn.get(), meta, &key, &upgraded_value, 0); pr != 0) {
        throw lmdb_error(pr, "writing the schema version to " + file);
      }
    }
  }
  // Database handles opened in a write transaction become usable by every
  // transaction only once it commits.
  if (int cr = txn.commit(); cr != 0) {
    throw lmdb_error(cr, "initialising storage in " + file);
  }
}

}  // namespace convoy::storage
