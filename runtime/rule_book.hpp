#pragma once

// The routing rules in force come from two places: rules.file, reloaded
// when it changes, and the management API, stored in LMDB. The rule book
// keeps both, checks them together (one name space; every archive and
// webhook a rule names exists), starts the archive writers and webhooks
// the file defines when they first appear and reconfigures them when
// their definitions change, and installs the merged set, the file's rules
// first, for the sessions to use.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <caf/actor_system.hpp>
#include <nlohmann/json.hpp>

#include "actors/durable_store.hpp"
#include "actors/telemetry_rules.hpp"
#include "runtime/rule_definition.hpp"
#include "runtime/rules_file.hpp"

namespace convoy::runtime {

class webhook_client;
class webhook_io;

// Made with std::make_shared: a write on its way to storage keeps the book
// alive until it is answered.
class rule_book : public std::enable_shared_from_this<rule_book> {
 public:
  struct settings {
    std::string archive_root;  // archive NAME writes into archive_root/NAME
    std::size_t max_inflated = 1 << 20;
  };
  // What an API change came to: 200 replaced, 201 created, 204 deleted, or
  // an error status with its message.
  struct outcome {
    unsigned status = 200;
    std::string message;
  };

  rule_book(caf::actor_system& system, std::shared_ptr<rules_control> control, store_ptr store,
            settings s);
  ~rule_book();

  // At start-up: the file's rules (or none) and the rules stored by the
  // API. A stored rule that no longer fits (its name now in the file, its
  // archive gone) is left out, logged and counted. Throws
  // webhook_url_error for a webhook URL the client cannot use.
  void start(rules_file file);
  // A changed rules.file: empty when it is in force, else why not (and the
  // rules in force stay).
  std::string use_file(rules_file file);

  // The archives and webhooks rules may name now.
  known_sinks sinks() const;
  // Creates or replaces the API rule r; `done` runs once it is stored and
  // in force, or refused, on the storage's thread.
  void put(telemetry_rule r, std::function<void(outcome)> done);
  void erase(const std::string& name, std::function<void(outcome)> done);

  // Tells every archive writer and webhook to stop, and lets go of them
  // (and of the rule set that names them).
  void stop();

 private:
  struct running_archive {
    archive_spec spec;
    fed_actor writer;
  };
  struct running_webhook {
    webhook_spec spec;
    std::shared_ptr<webhook_client> client;
    fed_actor actor;
  };

  // With mutex_ held: the merged rule set from file_ and api_.
  void install_locked();
  // With mutex_ held: starts or reconfigures what `file` defines; throws
  // webhook_url_error before changing anything when a URL is unusable.
  void run_sinks_locked(rules_file& file);
  // With mutex_ held: why api rule r cannot stand next to `file`, or empty.
  std::string conflict_locked(const telemetry_rule& r, const rules_file& file) const;
  // Stores (or, with json empty, erases) an API rule, then `apply` under
  // the lock; without storage at once.
  void persist(const std::string& name, const std::string& json, std::function<outcome()> apply,
               std::function<void(outcome)> done);

  caf::actor_system& system_;
  std::shared_ptr<rules_control> control_;
  store_ptr store_;
  settings settings_;
  mutable std::mutex mutex_;
  rules_file file_;
  std::map<std::string, telemetry_rule> api_;  // by name: the order they are evaluated in
  std::map<std::string, running_archive> archives_;
  std::map<std::string, running_webhook> webhooks_;
  std::shared_ptr<webhook_io> webhook_io_;
};

// The key of an API rule in the definitions database.
std::string rule_definition_key(const std::string& name);

}  // namespace convoy::runtime
