#pragma once

// The routing rules in force come from two places: rules.file, reloaded
// when it changes, and the management API, stored in LMDB; so do the
// archives and webhooks the rules feed. The rule book keeps both, checks
// them together (one name space per kind; every archive and webhook a rule
// names exists), starts archive writers and webhooks when they first
// appear and reconfigures them when their definitions change, and
// installs the merged rule set, the file's rules first, for the sessions.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <nlohmann/json.hpp>

#include "actors/core/durable_store.hpp"
#include "actors/rules/telemetry_rules.hpp"
#include "runtime/rules/rule_definition.hpp"
#include "runtime/rules/rules_file.hpp"

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
    std::size_t max_api_definitions = 256;  // rules, webhooks and archives together
  };
  // What an API change came to: 200 replaced, 201 created, 204 deleted, or
  // an error status with its message.
  struct outcome {
    unsigned status = 200;
    std::string message;
  };
  // The archives and webhooks defined now, each with where it comes from.
  struct sink_listing {
    std::vector<std::pair<archive_spec, bool>> archives;  // spec, from the API
    std::vector<std::pair<webhook_spec, bool>> webhooks;
  };

  rule_book(caf::actor_system& system, std::shared_ptr<rules_control> control, store_ptr store,
            settings s);
  ~rule_book();

  // At start-up: the file's rules (or none) and what the API stored. A
  // stored definition that no longer fits (its name now in the file, its
  // archive gone, its CA file unreadable) is left out, logged and counted.
  // The file's webhooks must pass webhook_client::check.
  void start(rules_file file);
  // A changed rules.file: empty when it is in force, else why not (and the
  // rules in force stay).
  std::string use_file(rules_file file);

  // The archives and webhooks rules may name now.
  known_sinks sinks() const;
  sink_listing sinks_defined() const;
  // The webhook actors running now, by name (for their status).
  std::vector<std::pair<std::string, caf::actor>> webhook_actors() const;

  // Creates or replaces an API definition; `done` runs once it is stored
  // and in force, or refused, maybe on the storage's thread.
  void put(telemetry_rule r, std::function<void(outcome)> done);
  void put(archive_spec a, std::function<void(outcome)> done);
  void put(webhook_spec w, std::function<void(outcome)> done);
  enum class kind { rule, archive, webhook };
  void erase(kind k, const std::string& name, std::function<void(outcome)> done);

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

  // With mutex_ held: `file` with the API's archives and webhooks added.
  rules_file with_api_sinks_locked(const rules_file& file) const;
  // With mutex_ held: 409 when a new definition would pass
  // settings::max_api_definitions.
  std::optional<outcome> over_bound_locked(bool replaces) const;
  // With mutex_ held: the merged rule set from file_ and api_.
  void install_locked();
  // With mutex_ held: starts or reconfigures what `defined` defines;
  // throws webhook_url_error before changing anything when a webhook
  // cannot be used.
  void run_sinks_locked(rules_file& defined);
  // Why an API rule may not be named `name` next to `file`, or empty.
  static std::string name_taken(const std::string& name, const rules_file& file);
  // With mutex_ held: why the API rule r cannot stand next to `file`, whose
  // archives and webhooks with the API's are `defined`, or empty.
  std::string conflict_locked(const telemetry_rule& r, const rules_file& file,
                              const rules_file& defined) const;
  // With mutex_ held: the rule of file_ or api_ that names archive or
  // webhook `name`, or empty.
  std::string user_locked(kind k, const std::string& name) const;
  // Stores (or, with json empty, erases) a definition, then `apply` under
  // the lock; without storage at once.
  void persist(const std::string& key, const std::string& json, std::function<outcome()> apply,
               std::function<void(outcome)> done);
  // put(archive) and put(webhook): stored, then run and installed.
  template <class Spec>
  void put_sink(kind k, Spec spec, nlohmann::json shown, std::function<void(outcome)> done);

  caf::actor_system& system_;
  std::shared_ptr<rules_control> control_;
  store_ptr store_;
  settings settings_;
  mutable std::mutex mutex_;
  rules_file file_;
  std::map<std::string, telemetry_rule> api_;  // by name: the order they are evaluated in
  std::map<std::string, archive_spec> api_archives_;
  std::map<std::string, webhook_spec> api_webhooks_;
  std::map<std::string, running_archive> archives_;
  std::map<std::string, running_webhook> webhooks_;
  std::shared_ptr<webhook_io> webhook_io_;
};

// The key of an API definition in the definitions database: "rule/NAME",
// "archive/NAME", "webhook/NAME".
std::string definition_key(rule_book::kind k, const std::string& name);

}  // namespace convoy::runtime
