#include "runtime/rule_book.hpp"

#include <algorithm>
#include <set>

#include <spdlog/spdlog.h>
#include <caf/send.hpp>

#include "actors/archive_writer.hpp"
#include "actors/metrics.hpp"
#include "actors/webhook.hpp"
#include "runtime/webhook_client.hpp"

namespace convoy::runtime {

using json = nlohmann::json;

namespace {

constexpr std::string_view rule_prefix = "rule/";

}  // namespace

std::string rule_definition_key(const std::string& name) {
  return std::string{rule_prefix} + name;
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
  run_sinks_locked(file);
  file_ = std::move(file);
  if (store_) {
    for (auto& [key, text] : store_->load_definitions()) {
      if (!key.starts_with(rule_prefix)) continue;
      std::string name = key.substr(rule_prefix.size());
      std::string error;
      json j = json::parse(text, nullptr, false);
      auto r = rule_from_json(name, j, sinks_of(file_), error);
      if (r) error = conflict_locked(*r, file_);
      if (!error.empty()) {
        metrics::add(counter::rules_reload_failures);
        spdlog::error("the stored API rule '{}' is left out: {}", name, error);
        continue;
      }
      r->from_api = true;
      api_.emplace(name, std::move(*r));
    }
  }
  install_locked();
  if (!file_.rules.empty() || !api_.empty())
    spdlog::info("{} routing rules ({} from the API), {} archives in {}, {} webhooks",
                 file_.rules.size() + api_.size(), api_.size(), archives_.size(),
                 settings_.archive_root, webhooks_.size());
}

std::string rule_book::use_file(rules_file file) {
  std::lock_guard lock{mutex_};
  for (const auto& [name, r] : api_)
    if (auto why = conflict_locked(r, file); !why.empty()) return why;
  try {
    run_sinks_locked(file);
  } catch (const webhook_url_error& e) {
    return e.what();
  }
  file_ = std::move(file);
  install_locked();
  return {};
}

std::string rule_book::conflict_locked(const telemetry_rule& r, const rules_file& file) const {
  if (std::any_of(file.rules.begin(), file.rules.end(),
                  [&](const telemetry_rule& f) { return f.name == r.name; }))
    return "rule '" + r.name + "' is defined both in rules.file and over the API";
  if (auto problem = check_rule(r, sinks_of(file), key_style::json))
    return "the API rule '" + r.name + "': " + problem->message;
  return {};
}

void rule_book::run_sinks_locked(rules_file& file) {
  for (auto& a : file.archives)
    a.directory = settings_.archive_root + "/" + a.name;
  // Every new client first: a URL it cannot use refuses the file before
  // anything changes.
  std::map<std::string, std::shared_ptr<webhook_client>> clients;
  for (const auto& w : file.webhooks) {
    auto running = webhooks_.find(w.name);
    if (running != webhooks_.end() && running->second.spec == w) continue;
    if (!webhook_io_) webhook_io_ = std::make_shared<webhook_io>();
    clients[w.name] = std::make_shared<webhook_client>(webhook_io_, w);
  }
  for (const auto& w : file.webhooks) {
    auto client = clients.find(w.name);
    if (client == clients.end()) continue;  // unchanged
    auto running = webhooks_.find(w.name);
    if (running == webhooks_.end()) {
      fed_actor actor = spawn_fed([&](inflow_ptr bound) {
        return system_.spawn(webhook, w, transport_ptr{client->second}, std::move(bound));
      });
      webhooks_.emplace(w.name, running_webhook{w, client->second, std::move(actor)});
      spdlog::info("webhook '{}' started: {}", w.name, w.url);
    } else {
      // The running actor keeps its queue; its client posts to the new URL.
      running->second.client->retarget(w);
      running->second.spec = w;
      caf::anon_send(running->second.actor.actor, webhook_reconfigure{w});
    }
  }
  for (const auto& a : file.archives) {
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
  // Archives and webhooks the file no longer names keep running, idle:
  // a webhook may still hold items to post, and the name may come back.
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
    for (const auto& a : file_.archives)
      archives.insert(a.name);
    for (const auto& w : file_.webhooks)
      webhooks.insert(w.name);
  }
  known_sinks s;
  s.archive = [archives](const std::string& n) { return archives.count(n) > 0; };
  s.webhook = [webhooks](const std::string& n) { return webhooks.count(n) > 0; };
  return s;
}

void rule_book::put(telemetry_rule r, std::function<void(outcome)> done) {
  r.from_api = true;
  {
    std::lock_guard lock{mutex_};
    if (auto why = conflict_locked(r, file_); !why.empty()) return done({409, why});
  }
  std::string name = r.name;
  std::string text = rule_to_json(r).dump();
  persist(
      name, text,
      [this, r = std::move(r)]() mutable -> outcome {
        // rules.file changed while the rule was being stored: what was
        // stored before goes back.
        if (auto why = conflict_locked(r, file_); !why.empty()) {
          if (store_) {
            auto key = rule_definition_key(r.name);
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
        api_[r.name] = std::move(r);
        install_locked();
        return {created ? 201u : 200u, {}};
      },
      std::move(done));
}

void rule_book::erase(const std::string& name, std::function<void(outcome)> done) {
  {
    std::lock_guard lock{mutex_};
    if (std::any_of(file_.rules.begin(), file_.rules.end(),
                    [&](const telemetry_rule& f) { return f.name == name; }))
      return done({409, "rule '" + name + "' is defined in rules.file: remove it there"});
    if (!api_.count(name)) return done({404, "no rule '" + name + "'"});
  }
  persist(
      name, {},
      [this, name]() -> outcome {
        if (api_.erase(name) == 0) return {404, "no rule '" + name + "'"};
        install_locked();
        return {204, {}};
      },
      std::move(done));
}

void rule_book::persist(const std::string& name, const std::string& json_text,
                        std::function<outcome()> apply, std::function<void(outcome)> done) {
  auto finish = [self = shared_from_this(), apply = std::move(apply), done](bool stored) {
    if (!stored) return done({500, "the rule could not be stored (see the node's log)"});
    outcome o;
    {
      std::lock_guard lock{self->mutex_};
      o = apply();
    }
    done(std::move(o));
  };
  if (!store_) return finish(true);
  const std::string key = rule_definition_key(name);
  bool accepted = json_text.empty() ? store_->erase_definition(key, finish)
                                    : store_->save_definition(key, json_text, finish);
  if (!accepted) done({503, "storage is busy; try again"});
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
