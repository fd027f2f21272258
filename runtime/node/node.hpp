#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include <future>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include "actors/vehicle/consent_catalog.hpp"
#include "cluster/membership_keeper.hpp"
#include "config/config.hpp"
#include "runtime/auth/authenticator.hpp"
#include "runtime/edge/edge_context.hpp"
#include "runtime/edge/mqtt_listener.hpp"
#include "runtime/edge/tls_context.hpp"
#include "runtime/http/http_server.hpp"
#include "runtime/http/management_api.hpp"
#include "runtime/node/file_stamp.hpp"
#include "runtime/rules/rules_file.hpp"
#include "runtime/storage/lmdb_store.hpp"

namespace convoy::runtime {

broker_settings settings_from(const config::node_config& cfg);

// One Convoy node: the actor system with its topic shards and session
// registry, and the MQTT edge feeding it.
class node {
 public:
  explicit node(config::node_config cfg);
  ~node();
  node(const node&) = delete;
  node& operator=(const node&) = delete;

  // Spawns the actors and opens the listeners. Throws std::runtime_error
  // naming the endpoint when a listener cannot be opened.
  void start();

  // Blocks until SIGINT or SIGTERM, or until the node cannot go on (its
  // cluster refused it), then shuts down cleanly. The process's exit code:
  // 0 after a signal, 1 after a failure.
  int run_until_signal();

  // Says goodbye to every client (MQTT 5: DISCONNECT 0x8B), stops the edge
  // and the actors. Idempotent.
  void stop();

  std::uint16_t mqtt_port() const { return listener_->port(); }
  // 0 without tls.enabled.
  std::uint16_t tls_port() const { return tls_listener_ ? tls_listener_->port() : 0; }
  // 0 without websocket.enabled, or websocket.tls_enabled.
  std::uint16_t websocket_port() const { return ws_listener_ ? ws_listener_->port() : 0; }
  std::uint16_t websocket_tls_port() const { return wss_listener_ ? wss_listener_->port() : 0; }
  // 0 without http.enabled.
  std::uint16_t http_port() const { return http_ ? http_->port() : 0; }

  // Reloads the TLS files when they changed (or always, when forced) and
  // disconnects clients whose certificates a new CA or CRL file no longer
  // accepts. Runs on the first I/O thread.
  void reload_tls(bool force);

  // Reloads auth.acl_file when it changed (or always, when forced); every
  // session applies the new rules at once. Runs on the first I/O thread.
  void reload_access(bool force);
  void reload_rules(bool force);
  caf::actor_system& system() { return *system_; }

 private:
  // What the files named by the configuration hold, read before any actor
  // exists.
  struct startup_files {
    std::shared_ptr<const consent_catalog> purposes;
    rules_file rules;
    policy_ptr access;
  };
  startup_files load_files();
  void spawn_actors(startup_files files);
  void spawn_storage_and_topic_shards(broker_context& ctx);
  void spawn_vehicle_services(broker_context& ctx, std::shared_ptr<const consent_catalog> purposes);
  void start_routing_rules(const std::shared_ptr<broker_context>& ctx, rules_file loaded);
  void spawn_command_shards(const std::shared_ptr<broker_context>& ctx);
  void open_edges();
  bool clustered() const { return !cfg_.cluster.etcd.empty(); }
  // Publishes the cluster agent on the cluster port and joins the cluster
  // through etcd (cluster/membership_keeper.hpp).
  void join_cluster();
  // On stop: waits for other members to take this node's retained messages.
  void hand_over_retained();
  // Ends run_until_signal with exit code 1.
  void fail(const std::string& why);
  void restore_sessions();
  void start_tls();
  void start_websocket();
  void start_http();
  // Opens a listener, or throws naming what it is for and where.
  std::unique_ptr<mqtt_listener> open_listener(const char* what, const std::string& bind,
                                               std::uint16_t port, bool runs_sweep,
                                               const tls_context_source* tls,
                                               const websocket::upgrade_rules* websocket);
  void schedule_tls_reload();
  void await_sighup();
  void schedule_access_reload();

  config::node_config cfg_;
  caf::actor_system_config caf_cfg_;
  std::unique_ptr<caf::actor_system> system_;
  std::shared_ptr<lmdb_store> store_;  // null with storage.enabled = false
  // One per I/O thread; the first also runs the listener and signals.
  std::vector<std::unique_ptr<boost::asio::io_context>> io_contexts_;
  std::vector<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::vector<std::thread> io_threads_;
  // After the io_contexts: destroyed (its thread joined) before them, since
  // it posts its verdicts to them.
  std::unique_ptr<authenticator> auth_;
  edge_context edge_;
  std::unique_ptr<mqtt_listener> listener_;
  std::unique_ptr<tls_context_source> tls_;
  std::unique_ptr<mqtt_listener> tls_listener_;
  websocket::upgrade_rules websocket_rules_;
  std::unique_ptr<mqtt_listener> ws_listener_;
  std::unique_ptr<mqtt_listener> wss_listener_;
  std::unique_ptr<boost::asio::steady_timer> tls_reload_timer_;
  std::unique_ptr<boost::asio::signal_set> hangup_;
  std::unique_ptr<boost::asio::steady_timer> access_reload_timer_;
  file_stamp access_file_stamp_;
  file_stamp rules_file_stamp_;
  std::optional<file_stamp> rules_file_failed_;
  std::optional<file_stamp> access_file_failed_;  // reported once per broken version
  // The HTTP edge has an I/O thread of its own: an operator's slow request
  // never delays an MQTT client.
  std::unique_ptr<boost::asio::io_context> http_io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>
      http_work_;
  std::thread http_thread_;
  std::unique_ptr<management_api> api_;
  std::unique_ptr<http_server> http_;
  // The routing rules of rules.file and the API, with their archives and
  // webhooks (runtime/rules/rule_book.hpp).
  std::shared_ptr<class rule_book> rules_;
  std::atomic<bool> accepting_{false};
  std::unique_ptr<boost::asio::signal_set> signals_;
  std::promise<int> signalled_;  // the signal, or 0 after fail()
  std::atomic<bool> signalled_set_{false};
  std::string failure_;
  caf::actor cluster_agent_;  // null for a node alone
  caf::actor session_directory_;  // of the client slices this member owns; null alone
  std::unique_ptr<cluster::membership_keeper> keeper_;
  std::vector<caf::actor> shards_;
  bool stopped_ = false;
};

}  // namespace convoy::runtime
