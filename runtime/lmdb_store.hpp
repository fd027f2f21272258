#pragma once

#include <memory>

#include "actors/durable_store.hpp"
#include "runtime/storage/group_commit.hpp"
#include "runtime/storage/storage_env.hpp"
#include "runtime/storage/storage_options.hpp"

namespace convoy::runtime {

// durable_store on the node's LMDB environment: one environment in the data
// dir and one group commit writer for every actor of the node.
class lmdb_store final : public durable_store {
 public:
  // Opens (or creates) the environment; throws storage::storage_error with a
  // message naming the data dir when it cannot (in use by another node, not
  // ours, a newer schema, unwritable).
  explicit lmdb_store(const storage::storage_options& options);
  ~lmdb_store() override;

  bool save_retained(const app_message& m, completion done) override;
  std::vector<message_ref> load_retained() override;
  bool save_session(const session_record& s, completion done) override;
  bool erase_session(const std::string& client_id, completion done) override;
  bool save_qos2_received(const std::string& client_id, std::uint16_t packet_id,
                          completion done) override;
  bool erase_qos2_received(const std::string& client_id, std::uint16_t packet_id,
                           completion done) override;
  bool sync(completion done) override;
  std::vector<session_record> load_sessions() override;

  const storage::commit_counters& counters() const { return writer_.counters(); }

 private:
  storage::storage_env env_;
  storage::group_commit writer_;
};

}  // namespace convoy::runtime
