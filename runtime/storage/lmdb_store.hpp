#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <unordered_map>

#include <fmt/format.h>

#include "actors/core/durable_store.hpp"
#include "runtime/storage/group_commit.hpp"
#include "runtime/storage/read_txn.hpp"
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
  std::optional<std::uint64_t> save_route(const app_message& m, bool store_retained,
                                          const std::vector<queue_target>& targets,
                                          completion done) override;
  bool save_outgoing_stage(const std::string& client_id, std::uint32_t incarnation,
                           const delivery& d, std::uint16_t packet_id, outgoing_stage stage,
                           completion done) override;
  bool release(const std::string& client_id, std::uint64_t stored_id, completion done) override;
  std::vector<message_ref> load_retained() override;
  bool save_session(const session_record& s, completion done) override;
  bool erase_session(const std::string& client_id, const std::vector<std::uint64_t>& stored_ids,
                     completion done) override;
  bool save_qos2_received(const std::string& client_id, std::uint16_t packet_id,
                          completion done) override;
  bool erase_qos2_received(const std::string& client_id, std::uint16_t packet_id,
                           completion done) override;
  std::optional<vehicle_record> load_vehicle(const std::string& vin) override;
  bool save_vehicle(const vehicle_record& v, completion done) override;
  bool erase_vehicle(const std::string& vin, completion done) override;
  std::vector<consent_record> load_consents(const std::string& vin) override;
  std::optional<vehicle_state> load_vehicle_state(const std::string& vin) override;
  bool save_vehicle_state(const vehicle_state& s, completion done) override;
  bool save_consent(const consent_record& c, completion done) override;
  bool erase_consent(const std::string& vin, const std::string& subject, const std::string& purpose,
                     completion done) override;
  std::vector<vehicle_record> list_vehicles(
      const std::string& after, std::size_t limit,
      const std::function<bool(const vehicle_record&)>& wanted, bool& more) override;
  std::vector<command_record> load_commands(
      const std::function<bool(std::string_view vin)>& wanted) override;
  std::optional<command_record> load_command(const std::string& vin,
                                             const std::string& id) override;
  std::vector<command_record> list_commands(const std::string& vin, const std::string& before,
                                            std::size_t limit, bool& more) override;
  bool save_command(const command_record& c, completion done) override;
  bool erase_command(const std::string& vin, const std::string& id, completion done) override;
  std::vector<std::pair<std::string, std::string>> load_definitions() override;
  bool save_definition(const std::string& key, const std::string& json, completion done) override;
  bool erase_definition(const std::string& key, completion done) override;
  bool sync(completion done) override;
  std::vector<session_record> load_sessions() override;

  const storage::commit_counters& counters() const { return writer_.counters(); }

 private:
  // A read transaction, or nullopt after logging "storage: <what>: <why>"
  // (formatted only then).
  template <class... Args>
  std::optional<storage::read_txn> begin_read(fmt::format_string<Args...> what, Args&&... args);
  // One queue entry of stored_id fewer; at none, the message goes too.
  void drop_reference(std::uint64_t stored_id, storage::write_batch& batch);
  void put_retained(const app_message& m, storage::write_batch& batch);

  storage::storage_env env_;
  storage::group_commit writer_;
  std::atomic<std::uint64_t> next_message_id_{1};
  // How many queue entries refer to each stored message, so the message is
  // deleted with the last. Rebuilt from the queues at start-up.
  std::mutex references_mutex_;
  std::unordered_map<std::uint64_t, std::uint32_t> references_;
};

}  // namespace convoy::runtime
