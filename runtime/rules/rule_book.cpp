#include "runtime/rules/rule_book.hpp"

#include <algorithm>
#include <set>

#include <spdlog/spdlog.h>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include "actors/core/metrics.hpp"
#include "actors/rules/archive_writer.hpp"
#include "actors/rules/webhook.hpp"
#include "runtime/rules/webhook_client.hpp"

namespace convoy::runtime {

using json = nlohmann::json;

namespace {

using definition_stored_atom = caf::atom_constant<caf::atom("defstored")>;

std::string_view prefix_of(rule_book::kind k) {
  switch (k) {
    case rule_book::kind::rule:
      return "rule/";
    case rule_book::kind::archive:
      return "archive/";
    case rule_book::kind::webhook:
      return "webhook/";
  }
  return "";
}

std::string_view word(rule_book::kind k) {
  return k == rule_book::kind::rule      ? "rule"
         : k == rule_book::kind::archive ? "archive"
                                         : "webhook";
}

template <class Spec>
bool defines(const std::vector<Spec>& specs, const std::string& name) {
  return std::any_of(specs.begin(), specs.end(), [&](const Spec& s) { return s.name == name; });
}

}  // namespace

std::string definition_key(rule_book::kind k, const std::string& name) {
  return std::string{prefix_of(k)} + name;
}

rule_book::rule_book(caf::actor_system& system, std::shared_ptr<rules_control> control,
                     store_ptr store, settings s)
    : system_(system),
      control_(std::move(control)),
      store_(std::move(store)),
      settings_(std::move(s)) {}

rule_book::~rule_book() = default;

void rule_book::start(rules_file file) {
  std::lock_guard lock{mutex_};
  file_ = std::move(file);
  std::vector<std::pair<std::string, std::string>> stored;
  if (store_) stored = store_->load_definitions();
  auto left_out = [](std::string_view what, const std::string& name, const std::string& why) {
    metrics::add(counter::rules_reload_failures);
    spdlog::error("the {} '{}' stored by the API is left out: {}", what, name, why);
  };
  // Archives and webhooks first: the rules name them.
  for (const auto& [key, text] : stored) {
    const bool archive = key.starts_with(prefix_of(kind::archive));
    if (!archive && !key.starts_with(prefix_of(kind::webhook))) continue;
    std::string name = key.substr(key.find('/') + 1);
    json j = json::parse(text, nullptr, false);
    try {
      if (!j.is_object()) throw definition_error("the stored record is not a JSON object");
      json_definition_reader in{j};
      if (archive) {
        if (defines(file_.archives, name)) throw definition_error("rules.file defines it too");
        api_archives_.emplace(name, read_archive(name, in));
      } else {
        if (defines(file_.webhooks, name)) throw definition_error("rules.file defines it too");
        auto w = read_webhook(name, in);
        webhook_client::check(w);
        api_webhooks_.emplace(name, std::move(w));
      }
    } catch (const std::exception& e) {  // definition_error, webhook_url_error, json errors
      left_out(archive ? "archive" : "webhook", name, e.what());
    }
  }
  rules_file defined = with_api_sinks_locked(file_);
  run_sinks_locked(defined);
  for (const auto& [key, text] : stored) {
    if (!key.starts_with(prefix_of(kind::rule))) continue;
    std::string name = key.substr(prefix_of(kind::rule).size());
    std::string error;
    json j = json::parse(text, nullptr, false);
    auto r = rule_from_json(name, j, sinks_of(defined), error);
    if (r) error = name_taken(name, file_);
    if (!error.empty()) {
      left_out("rule", name, error);
      continue;
    }
    r->from_api = true;
    api_.emplace(name, std::move(*r));
  }
  install_locked();
  if (!file_.rules.empty() || !api_.empty() || !archives_.empty() || !webhooks_.empty())
    spdlog::info("{} routing rules ({} from the API), {} archives in {}, {} webhooks",
                 file_.rules.size() + api_.size(), api_.size(), archives_.size(),
                 settings_.archive_root, webhooks_.size());
}

std::string rule_book::use_file(rules_file file) {
  std::lock_guard lock{mutex_};
  for (const auto& a : file.archives)
    if (api_archives_.count(a.name))
      return "archive '" + a.name + "' is defined both in rules.file and over the API";
  for (const auto& w : file.webhooks)
    if (api_webhooks_.count(w.name))
      return "webhook '" + w.name + "' is defined both in rules.file and over the API";
  rules_file defined = with_api_sinks_locked(file);
  for (const auto& [name, r] : api_)
    if (auto why = conflict_locked(r, file, defined); !why.empty()) return why;
  try {
    run_sinks_locked(defined);
  } catch (const webhook_url_error& e) {
    return e.what();
  }
  file_ = std::move(file);
  install_locked();
  return {};
}

rules_file rule_book::with_api_sinks_locked(const rules_file& file) const {
  rules_file out;
  out.archives = file.archives;
  out.webhooks = file.webhooks;
  for (const auto& [name, a] : api_archives_)
    out.archives.push_back(a);
  for (const auto& [name, w] : api_webhooks_)
    out.webhooks.push_back(w);
  return out;
}

std::string rule_book::name_taken(const std::string& name, const rules_file& file) {
  if (std::any_of(file.rules.begin(), file.rules.end(),
                  [&](const telemetry_rule& f) { return f.name == name; }))
    return "rule '" + name + "' is defined both in rules.file and over the API";
  return {};
}

std::string rule_book::conflict_locked(const telemetry_rule& r, const rules_file& file,
                                       const rules_file& defined) const {
  if (auto why = name_taken(r.name, file); !why.empty()) return why;
  if (auto problem = check_rule(r, sinks_of(defined), key_style::json))
    return "the API rule '" + r.name + "': " + problem->message;
  return {};
}

std::string rule_book::user_locked(kind k, const std::string& name) const {
  auto uses = [&](const telemetry_rule& r) {
    return k == kind::archive ? r.has(rule_action::archive) && r.archive == name
                              : r.has(rule_action::webhook) && r.webhook == name;
  };
  for (const auto& r : file_.rules)
    if (uses(r)) return r.name;
  for (const auto& [n, r] : api_)
    if (uses(r)) return n;
  return {};
}

void rule_book::run_sinks_locked(rules_file& defined) {
  for (auto& a : defined.archives)
    a.directory = settings_.archive_root + "/" + a.name;
  // Every webhook that changes is prepared first: one that cannot be used
  // refuses the whole change before anything changes.
  std::map<std::string, webhook_client::endpoint_ptr> prepared;
  for (const auto& w : defined.webhooks) {
    auto running = webhooks_.find(w.name);
    if (running == webhooks_.end() || !(running->second.spec == w))
      prepared[w.name] = webhook_client::prepare(w);
  }
  for (const auto& w : defined.webhooks) {
    auto endpoint = prepared.find(w.name);
    if (endpoint == prepared.end()) continue;  // unchanged
    auto running = webhooks_.find(w.name);
    if (running == webhooks_.end()) {
      if (!webhook_io_) webhook_io_ = std::make_shared<webhook_io>();
      auto client = std::make_shared<webhook_client>(webhook_io_, endpoint->second);
      fed_actor actor = spawn_fed([&](inflow_ptr bound) {
        return system_.spawn(webhook, w, transport_ptr{client}, std::move(bound));
      });
      webhooks_.emplace(w.name, running_webhook{w, client, std::move(actor)});
      spdlog::info("webhook '{}' started: {}", w.name, w.url);
    } else {
      // The running actor keeps its queue; its client posts to the new URL.
      running->second.client->retarget(endpoint->second);
      running->second.spec = w;
      caf::anon_send(running->second.actor.actor, webhook_reconfigure{w});
      spdlog::info("webhook '{}' reconfigured: {}", w.name, w.url);
    }
  }
  for (const auto& a : defined.archives) {
    auto running = archives_.find(a.name);
    if (running == archives_.end()) {
      fed_actor writer = spawn_fed([&](inflow_ptr bound) {
        return system_.spawn<caf::detached>(archive_writer, a, std::move(bound));
      });
      archives_.emplace(a.name, running_archive{a, std::move(writer)});
      spdlog::info("archive '{}' started in {}", a.name, a.directory);
    } else if (!(running->second.spec == a)) {
      running->second.spec = a;
      caf::anon_send(running->second.writer.actor, archive_reconfigure{a});
      spdlog::info("archive '{}' reconfigured", a.name);
    }
  }
  // Archives and webhooks no longer defined keep running, idle: a webhook
  // may still hold items to post, and the name may come back.
}

void rule_book::install_locked() {
  std::vector<telemetry_rule> rules = file_.rules;
  for (const auto& [name, r] : api_)
    rules.push_back(r);
  if (rules.empty()) {
    control_->install(nullptr);
    return;
  }
  std::vector<rule_targets> targets(rules.size());
  for (std::size_t i = 0; i < rules.size(); ++i) {
    if (auto a = archives_.find(rules[i].archive); a != archives_.end())
      targets[i].archive = a->second.writer;
    if (auto w = webhooks_.find(rules[i].webhook); w != webhooks_.end())
      targets[i].webhook = w->second.actor;
  }
  control_->install(std::make_shared<const rule_set>(std::move(rules), settings_.max_inflated,
                                                     std::move(targets)));
}

known_sinks rule_book::sinks() const {
  std::set<std::string> archives;
  std::set<std::string> webhooks;
  {
    std::lock_guard lock{mutex_};
    const rules_file defined = with_api_sinks_locked(file_);
    for (const auto& a : defined.archives)
      archives.insert(a.name);
    for (const auto& w : defined.webhooks)
      webhooks.insert(w.name);
  }
  known_sinks s;
  s.archive = [archives](const std::string& n) { return archives.count(n) > 0; };
  s.webhook = [webhooks](const std::string& n) { return webhooks.count(n) > 0; };
  return s;
}

rule_book::sink_listing rule_book::sinks_defined() const {
  std::lock_guard lock{mutex_};
  sink_listing out;
  for (auto a : file_.archives) {
    a.directory = settings_.archive_root + "/" + a.name;
    out.archives.emplace_back(std::move(a), false);
  }
  for (auto [name, a] : api_archives_) {
    a.directory = settings_.archive_root + "/" + a.name;
    out.archives.emplace_back(std::move(a), true);
  }
  for (const auto& w : file_.webhooks)
    out.webhooks.emplace_back(w, false);
  for (const auto& [name, w] : api_webhooks_)
    out.webhooks.emplace_back(w, true);
  return out;
}

std::optional<rule_book::outcome> rule_book::over_bound_locked(bool replaces) const {
  if (replaces ||
      api_.size() + api_archives_.size() + api_webhooks_.size() < settings_.max_api_definitions)
    return std::nullopt;
  return outcome{409, "the API holds " + std::to_string(settings_.max_api_definitions) +
                          " rules, webhooks and archives already (rules.max_api_definitions)"};
}

std::vector<std::pair<std::string, caf::actor>> rule_book::webhook_actors() const {
  std::lock_guard lock{mutex_};
  std::vector<std::pair<std::string, caf::actor>> out;
  for (const auto& [name, w] : webhooks_)
    out.emplace_back(name, w.actor.actor);
  return out;
}

void rule_book::put(telemetry_rule r, std::function<void(outcome)> done) {
  r.from_api = true;
  {
    std::lock_guard lock{mutex_};
    if (auto why = conflict_locked(r, file_, with_api_sinks_locked(file_)); !why.empty())
      return done({409, why});
    if (auto full = over_bound_locked(api_.count(r.name) > 0)) return done(*full);
  }
  const std::string key = definition_key(kind::rule, r.name);
  std::string text = rule_to_json(r).dump();
  persist(
      key, text,
      [this, key, r = std::move(r)]() mutable -> outcome {
        // rules.file changed while the rule was being stored: what was
        // stored before goes back.
        if (auto why = conflict_locked(r, file_, with_api_sinks_locked(file_)); !why.empty()) {
          if (store_) {
            auto old = api_.find(r.name);
            auto ignore = [](bool) {};
            if (old == api_.end())
              store_->erase_definition(key, ignore);
            else
              store_->save_definition(key, rule_to_json(old->second).dump(), ignore);
          }
          return {409, why};
        }
        bool created = api_.count(r.name) == 0;
        if (auto full = over_bound_locked(!created)) {
          if (store_) store_->erase_definition(key, [](bool) {});
          return *full;
        }
        api_[r.name] = std::move(r);
        install_locked();
        return {created ? 201u : 200u, {}};
      },
      std::move(done));
}

template <class Spec>
void rule_book::put_sink(kind k, Spec spec, json shown, std::function<void(outcome)> done) {
  auto clash = [this, k](const std::string& name) {
    bool in_file =
        k == kind::archive ? defines(file_.archives, name) : defines(file_.webhooks, name);
    return in_file
               ? std::string{word(k)} + " '" + name + "' is defined in rules.file: change it there"
               : std::string{};
  };
  auto replaces = [this](const Spec& s) {
    if constexpr (std::is_same_v<Spec, archive_spec>)
      return api_archives_.count(s.name) > 0;
    else
      return api_webhooks_.count(s.name) > 0;
  };
  {
    std::lock_guard lock{mutex_};
    if (auto why = clash(spec.name); !why.empty()) return done({409, why});
    if (auto full = over_bound_locked(replaces(spec))) return done(*full);
  }
  const std::string key = definition_key(k, spec.name);
  persist(
      key, shown.dump(),
      [this, key, clash, replaces, spec = std::move(spec)]() mutable -> outcome {
        if (auto why = clash(spec.name); !why.empty()) {
          if (store_) store_->erase_definition(key, [](bool) {});
          return {409, why};
        }
        if (auto full = over_bound_locked(replaces(spec))) {
          if (store_) store_->erase_definition(key, [](bool) {});
          return *full;
        }
        bool created = false;
        if constexpr (std::is_same_v<Spec, archive_spec>) {
          created = api_archives_.count(spec.name) == 0;
          api_archives_[spec.name] = spec;
        } else {
          created = api_webhooks_.count(spec.name) == 0;
          api_webhooks_[spec.name] = spec;
        }
        rules_file defined = with_api_sinks_locked(file_);
        try {
          run_sinks_locked(defined);
        } catch (const webhook_url_error& e) {
          // Checked before it was stored; its CA file went since.
          if constexpr (std::is_same_v<Spec, webhook_spec>) api_webhooks_.erase(spec.name);
          if (store_) store_->erase_definition(key, [](bool) {});
          return {400, e.what()};
        }
        install_locked();
        return {created ? 201u : 200u, {}};
      },
      std::move(done));
}

void rule_book::put(archive_spec a, std::function<void(outcome)> done) {
  json shown = archive_to_json(a);
  shown.erase("directory");
  put_sink(kind::archive, std::move(a), std::move(shown), std::move(done));
}

void rule_book::put(webhook_spec w, std::function<void(outcome)> done) {
  json shown = webhook_to_json(w);
  put_sink(kind::webhook, std::move(w), std::move(shown), std::move(done));
}

void rule_book::erase(kind k, const std::string& name, std::function<void(outcome)> done) {
  auto forget = [this, k](const std::string& n) -> bool {
    if (k == kind::rule) return api_.erase(n) > 0;
    if (k == kind::archive) return api_archives_.erase(n) > 0;
    return api_webhooks_.erase(n) > 0;
  };
  {
    std::lock_guard lock{mutex_};
    const bool in_file = k == kind::rule
                             ? std::any_of(file_.rules.begin(), file_.rules.end(),
                                           [&](const telemetry_rule& f) { return f.name == name; })
                         : k == kind::archive ? defines(file_.archives, name)
                                              : defines(file_.webhooks, name);
    if (in_file)
      return done({409, std::string{word(k)} + " '" + name +
                            "' is defined in rules.file: remove it there"});
    const bool known = k == kind::rule      ? api_.count(name) > 0
                       : k == kind::archive ? api_archives_.count(name) > 0
                                            : api_webhooks_.count(name) > 0;
    if (!known) return done({404, "no " + std::string{word(k)} + " '" + name + "'"});
    if (k != kind::rule)
      if (auto user = user_locked(k, name); !user.empty())
        return done({409, std::string{word(k)} + " '" + name + "' is used by rule '" + user +
                              "': change or delete that rule first"});
  }
  persist(
      definition_key(k, name), {},
      [this, k, name, forget]() -> outcome {
        if (!forget(name)) return {404, "no " + std::string{word(k)} + " '" + name + "'"};
        install_locked();
        return {204, {}};
      },
      std::move(done));
}

void rule_book::persist(const std::string& key, const std::string& json_text,
                        std::function<outcome()> apply, std::function<void(outcome)> done) {
  auto finish = [self = shared_from_this(), apply = std::move(apply), done](bool stored) {
    if (!stored) return done({500, "the definition could not be stored (see the node's log)"});
    outcome o;
    {
      std::lock_guard lock{self->mutex_};
      o = apply();
    }
    done(std::move(o));
  };
  if (!store_) return finish(true);
  // The storage's thread may only send a message (durable_store): an actor
  // waits for it and then starts archives and webhooks and answers.
  // (It takes `finish` as a spawn argument: CAF 0.17 binds a null reference
  // for a function actor spawned without arguments.)
  auto waiter = system_.spawn(
      [](caf::event_based_actor* self, std::function<void(bool)> then) -> caf::behavior {
        return {[self, then](definition_stored_atom, bool stored) {
          then(stored);
          self->quit();
        }};
      },
      std::function<void(bool)>{std::move(finish)});
  auto tell = [waiter](bool stored) {
    caf::anon_send(waiter, definition_stored_atom::value, stored);
  };
  bool accepted = json_text.empty() ? store_->erase_definition(key, tell)
                                    : store_->save_definition(key, json_text, tell);
  if (!accepted) {
    caf::anon_send_exit(waiter, caf::exit_reason::user_shutdown);
    done({503, "storage is busy; try again"});
  }
}

void rule_book::stop() {
  std::lock_guard lock{mutex_};
  for (const auto& [name, a] : archives_)
    caf::anon_send_exit(a.writer.actor, caf::exit_reason::user_shutdown);
  for (const auto& [name, w] : webhooks_)
    caf::anon_send_exit(w.actor.actor, caf::exit_reason::user_shutdown);
  // No handle may outlive the actor system: a detached writer's thread
  // ends only once the last handle to it is gone.
  archives_.clear();
  webhooks_.clear();
  control_->install(nullptr);
}

}  // namespace convoy::runtime
