#include "runtime/node/node.hpp"

#include <csignal>
#include <filesystem>
#include <future>

#include <spdlog/spdlog.h>
#include <boost/asio/signal_set.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actors/core/messages.hpp"
#include "actors/core/metrics.hpp"
#include "actors/core/refusal_log.hpp"
#include "actors/core/request_bounds.hpp"
#include "actors/core/storage_gate.hpp"
#include "actors/routing/peer_routes.hpp"
#include "actors/routing/session_directory.hpp"
#include "actors/routing/session_moves.hpp"
#include "actors/routing/session_registry.hpp"
#include "actors/routing/topic_shard.hpp"
#include "actors/rules/rule_worker.hpp"
#include "actors/vehicle/command_shard.hpp"
#include "actors/vehicle/consent_shard.hpp"
#include "actors/vehicle/registry_control.hpp"
#include "actors/vehicle/registry_shard.hpp"
#include "actors/vehicle/vehicle_state_shard.hpp"
#include "cluster/cluster_agent.hpp"
#include "cluster/cluster_view.hpp"
#include "runtime/auth/access_file.hpp"
#include "runtime/edge/mqtt_connection.hpp"
#include "runtime/node/purpose_file.hpp"
#include "runtime/rules/rule_book.hpp"
#include "runtime/rules/rules_file.hpp"
#include "runtime/rules/webhook_client.hpp"

namespace convoy::runtime {

namespace {

// The items of a comma-separated setting, spaces around them trimmed,
// empty ones left out.
std::vector<std::string_view> split_list(std::string_view list) {
  std::vector<std::string_view> items;
  while (!list.empty()) {
    auto comma = list.find(',');
    auto item = list.substr(0, comma);
    while (!item.empty() && item.front() == ' ')
      item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ')
      item.remove_suffix(1);
    if (!item.empty()) items.push_back(item);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
  }
  return items;
}

}  // namespace

broker_settings settings_from(const config::node_config& cfg) {
  broker_settings s;
  const auto& m = cfg.mqtt;
  s.max_packet_size = m.max_packet_size;
  s.receive_maximum = m.receive_maximum;
  s.max_inflight_messages = m.max_inflight_messages;
  s.max_outbound_bytes = m.max_outbound_bytes;
  s.topic_alias_maximum = m.topic_alias_maximum;
  s.max_keep_alive = m.max_keep_alive;
  s.default_keep_alive = m.default_keep_alive;
  s.max_session_expiry = m.max_session_expiry;
  s.max_queued_messages = m.max_queued_messages;
  s.max_queued_bytes = m.max_queued_bytes;
  s.queue_qos0_messages = m.queue_qos0_messages;
  s.retain_available = m.retain_available;
  s.wildcard_subscriptions = m.wildcard_subscriptions;
  s.shared_subscriptions = m.shared_subscriptions;
  s.subscription_identifiers = m.subscription_identifiers;
  s.maximum_qos = m.maximum_qos;
  s.jwt_authentication = cfg.jwt.enabled;
  s.max_topic_levels = m.max_topic_levels;
  s.max_subscriptions_per_client = m.max_subscriptions_per_client;
  return s;
}

node::node(config::node_config cfg) : cfg_(std::move(cfg)) {
  register_message_types(caf_cfg_);
  cluster::register_cluster_message_types(caf_cfg_);
  caf_cfg_.load<caf::io::middleman>();
  // Off in CAF 0.17.6 unless set, and then a dead peer whose socket stays
  // open (power loss, a partition) is never noticed. Timespans: a value of
  // another type is ignored.
  caf_cfg_.set("middleman.heartbeat-interval",
               caf::timespan{std::chrono::milliseconds(cfg_.cluster.heartbeat_interval_ms)});
  caf_cfg_.set("middleman.connection-timeout",
               caf::timespan{std::chrono::milliseconds(cfg_.cluster.connection_timeout_ms)});
  if (cfg_.broker.actor_threads > 0)
    caf_cfg_.set("scheduler.max-threads", static_cast<std::size_t>(cfg_.broker.actor_threads));
  // CAF's work stealing polls an empty queue in three phases: spinning,
  // then 50 us sleeps, then a condition variable that enqueues from outside
  // (the I/O threads) signal. The sleeping phase cost a tenth of the broker's
  // CPU in nanosleep wake-ups at moderate load and delayed messages by up to
  // 50 us; a longer spin followed straight by the signalled wait cut CPU by
  // up to a quarter in fan-out and kept QoS 1 fan-in from collapsing.
  caf_cfg_.set("work-stealing.aggressive-poll-attempts", std::size_t{1000});
  caf_cfg_.set("work-stealing.moderate-poll-attempts", std::size_t{0});
  system_ = std::make_unique<caf::actor_system>(caf_cfg_);
}

node::~node() {
  stop();
}

void node::start() {
  // OpenSSL writes to sockets with plain send(), without MSG_NOSIGNAL: a
  // client that vanished mid-write would kill the node with SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  startup_files files = load_files();
  spawn_actors(std::move(files));
  if (clustered()) {
    session_directory_ = system_->spawn(session_directory);
    cluster::routing_setup routing{shards_,
                                   cfg_.broker.shard_key_levels,
                                   cfg_.cluster.peer_window_messages,
                                   cfg_.cluster.peer_window_bytes,
                                   session_directory_,
                                   edge_.registry,
                                   cfg_.cluster.client_slices,
                                   edge_.broker->standing};
    cluster_agent_ =
        cluster::spawn_cluster_agent(*system_, std::chrono::seconds(2), std::move(routing));
    // Clustered from the first CONNECT on: until the agent names the
    // directories, connections wait for them rather than start sessions
    // another member might hold.
    caf::anon_send(
        edge_.registry,
        directory_homes{cfg_.node.name, std::vector<caf::actor>(cfg_.cluster.client_slices), {}});
  }
  open_edges();
  if (clustered()) join_cluster();
}

void node::join_cluster() {
  const auto& c = cfg_.cluster;
  // Blocking, on the main thread: never from an actor's.
  auto port = system_->middleman().publish(cluster_agent_, c.port, c.bind.c_str(), true);
  if (!port)
    throw std::runtime_error("cannot listen for other nodes on " + c.bind + ":" +
                             std::to_string(c.port) + ": " + system_->render(port.error()));
  cluster::keeper_settings k;
  for (auto item : split_list(c.etcd))
    k.etcd.emplace_back(item);
  k.cluster = c.name;
  k.lease_ttl = std::chrono::seconds(c.lease_ttl_seconds);
  k.self.node = cfg_.node.name;
  k.self.host = c.advertise.empty() ? c.bind : c.advertise;
  k.self.cluster_port = *port;
  k.self.mqtt_port = mqtt_port();
  k.self.http_port = http_port();
  k.self.version = CONVOY_VERSION;
  // A VIN's registry, consent, state, command and rule-worker shards share
  // its vehicle slice, so they have one owner.
  const std::uint32_t vehicle_slices =
      std::max({cfg_.registry.shards, cfg_.consent.shards, cfg_.state.shards, cfg_.commands.shards,
                cfg_.rules.workers});
  k.slices = {{placement::slice_kind::topic, cfg_.broker.topic_shards},
              {placement::slice_kind::vehicle, vehicle_slices},
              {placement::slice_kind::client, c.client_slices}};
  spdlog::info("cluster {}: listening for other nodes on {}:{}; joining through etcd {}", c.name,
               c.bind, *port, c.etcd);
  cluster::membership_keeper::observer o;
  o.on_view = [agent = cluster_agent_](cluster::cluster_view v) {
    caf::anon_send(agent, std::move(v));
  };
  o.on_fatal = [this](std::string why) { fail(why); };
  keeper_ = std::make_unique<cluster::membership_keeper>(std::move(k), std::move(o));
  keeper_->start();
  // A restarted node waits here for the lease of its previous incarnation.
  auto limit = std::chrono::seconds(c.lease_ttl_seconds * 2 + 3);
  if (!keeper_->wait_joined(limit)) {
    if (!failure_.empty()) throw std::runtime_error(failure_);
    spdlog::warn(
        "cluster {}: not a member yet after {} s; the node keeps trying and is not ready "
        "until it is",
        c.name, limit.count());
  }
}

void node::fail(const std::string& why) {
  spdlog::critical("{}", why);
  if (signalled_set_.exchange(true)) return;
  failure_ = why;
  signalled_.set_value(0);
}

// Files that can stop the start are read before any actor exists: an actor
// spawned and never told to quit would keep the actor system (and the
// process) from ending.
node::startup_files node::load_files() {
  startup_files files;
  try {
    files.purposes = cfg_.consent.purposes_file.empty()
                         ? std::make_shared<const consent_catalog>(consent_catalog::builtin())
                         : std::make_shared<const consent_catalog>(
                               load_purpose_file(cfg_.consent.purposes_file));
    if (!cfg_.rules.file.empty()) files.rules = load_rules_file(cfg_.rules.file);
    for (const auto& w : files.rules.webhooks)
      webhook_client::check(w);
  } catch (const webhook_url_error& e) {
    throw std::runtime_error("rules.file " + cfg_.rules.file + ": " + e.what());
  } catch (const purpose_file_error& e) {
    throw std::runtime_error(e.what());
  } catch (const rules_file_error& e) {
    throw std::runtime_error(e.what());
  }
  try {
    auth_ = std::make_unique<authenticator>(cfg_.auth, cfg_.jwt);
  } catch (const jwt_config_error& e) {
    throw std::runtime_error(e.what());
  }
  edge_.auth = auth_.get();
  if (auth_->allows_anonymous())
    spdlog::warn(
        "clients without a username are let in on {}:{} (auth.allow_anonymous = true): "
        "meant for development, set it to false in production",
        cfg_.mqtt.bind, cfg_.mqtt.port);
  if (auth_->allows_anonymous() && cfg_.auth.acl_file.empty())
    spdlog::warn(
        "local-only mode (anonymous logins and no auth.acl_file): MQTT listens on {}, MQTT over "
        "WebSocket on {} and over TLS on {}; loopback unless mqtt.bind, websocket.bind or "
        "tls.bind say otherwise",
        cfg_.mqtt.bind, cfg_.websocket.bind, cfg_.tls.bind);
  if (!cfg_.auth.password_file.empty())
    spdlog::info("{} users from {}", auth_->users(), cfg_.auth.password_file);
  if (!cfg_.auth.acl_file.empty()) {
    access_file_stamp_ = file_stamp::of(cfg_.auth.acl_file);
    try {
      files.access = std::make_shared<const access_policy>(load_access_file(cfg_.auth.acl_file));
    } catch (const access_file_error& e) {
      throw std::runtime_error(std::string{"auth.acl_file: "} + e.what());
    }
    spdlog::info("access rules from {}", cfg_.auth.acl_file);
  } else {
    files.access = std::make_shared<const access_policy>(builtin_access_policy());
    spdlog::warn(
        "no auth.acl_file: every client may publish and subscribe to every topic but the "
        "$CONTROL topics (registry and operator requests), which need an ACL role");
  }
  // Unusable TLS files stop the node at start.
  if (cfg_.tls.enabled || (cfg_.websocket.enabled && cfg_.websocket.tls_enabled)) {
    try {
      tls_ = std::make_unique<tls_context_source>(cfg_.tls);
    } catch (const tls_error& e) {
      throw std::runtime_error(std::string{"TLS: "} + e.what());
    }
  }
  return files;
}

// The actors of the node, in the order they need each other: storage, topic
// shards, the vehicle services, the routing rules, commands, then the
// session registry and the sessions restored from disk.
void node::spawn_actors(startup_files files) {
  auto ctx = std::make_shared<broker_context>();
  ctx->settings = settings_from(cfg_);
  if (clustered()) ctx->standing = std::make_shared<cluster_standing>();
  ctx->access->install(std::move(files.access));
  ctx->topic_placement =
      placement::topic_placement{cfg_.broker.topic_shards, cfg_.broker.shard_key_levels};
  spawn_storage_and_topic_shards(*ctx);
  spawn_vehicle_services(*ctx, std::move(files.purposes));
  start_routing_rules(ctx, std::move(files.rules));
  if (cfg_.commands.enabled) spawn_command_shards(ctx);
  if (store_) {
    // Queued in the shards' mailboxes before the listener opens, so ahead
    // of any subscription.
    auto retained = store_->load_retained();
    for (auto& m : retained) {
      const caf::actor& shard = ctx->shard_for_topic(m->topic);
      caf::anon_send(shard, restore_retained{std::move(m)});
    }
    if (!retained.empty()) spdlog::info("restored {} retained messages", retained.size());
  }
  context_ptr shared_ctx = ctx;
  // Its context is the one it is part of: set before any session runs.
  ctx->refusal_log = system_->spawn(refusal_log, std::size_t{32}, std::size_t{20'000});
  ctx->registry_control = system_->spawn(registry_control, shared_ctx);
  edge_.broker = shared_ctx;
  edge_.registry = system_->spawn(session_registry, shared_ctx);
  for (const auto& shard : ctx->registry_shards)
    caf::anon_send(shard, registry_listener{edge_.registry});
  if (store_) restore_sessions();
}

void node::spawn_storage_and_topic_shards(broker_context& ctx) {
  if (cfg_.storage.enabled) {
    auto options = storage::storage_options_from(cfg_);
    options.commit.on_commit = [](std::uint64_t us) { metrics::storage_commit.observe(us); };
    store_ = std::make_shared<lmdb_store>(options);
    spdlog::info("storage in {} (storage.sync = {})", options.data_dir.string(), cfg_.storage.sync);
  } else {
    spdlog::warn("storage disabled: sessions and retained messages end with the process");
  }
  for (std::uint32_t i = 0; i < cfg_.broker.topic_shards; ++i)
    shards_.push_back(system_->spawn(topic_shard, i, store_ptr{store_}));
  ctx.topic_shards = placement::slice_directory<caf::actor>{shards_};
  ctx.store = store_;
  if (store_) ctx.storage_gate = system_->spawn(storage_gate, store_ptr{store_});
}

// Registry, consent and vehicle state shards, by VIN.
void node::spawn_vehicle_services(broker_context& ctx,
                                  std::shared_ptr<const consent_catalog> purposes) {
  for (std::uint32_t i = 0; i < cfg_.registry.shards; ++i)
    ctx.registry_shards.add(system_->spawn(registry_shard, store_ptr{store_}, ctx.storage_gate));
  ctx.registry_required = cfg_.registry.required;
  ctx.consent_purposes = std::move(purposes);
  for (std::uint32_t i = 0; i < cfg_.consent.shards; ++i)
    ctx.consent_shards.add(
        system_->spawn(consent_shard, store_ptr{store_}, ctx.storage_gate, ctx.consent_purposes));
  for (auto role : split_list(cfg_.consent.service_roles))
    ctx.consent_service_roles.emplace_back(role);
  if (!ctx.consent_service_roles.empty())
    for (const auto& shard : shards_)
      caf::anon_send(
          shard, consent_gate_setup{ctx.consent_purposes->purposes(), ctx.consent_shards.all()});
  if (cfg_.state.enabled) {
    for (std::uint32_t i = 0; i < cfg_.state.shards; ++i)
      ctx.state_inflows.push_back(std::make_shared<inflow_bound>(default_inflow_limit));
    for (std::uint32_t i = 0; i < cfg_.state.shards; ++i)
      ctx.state_shards.add(system_->spawn(
          vehicle_state_shard, i, store_ptr{store_}, std::size_t{cfg_.state.history_size},
          std::size_t{cfg_.state.max_cached_vehicles}, inflow_ptr{ctx.state_inflows[i]}));
    // Sessions send them telemetry (the routing rules' state action, the
    // default for telemetry), each message to its VIN's shard.
  }
}

// Rule workers, and the rule book with the rules of rules.file and the API.
void node::start_routing_rules(const std::shared_ptr<broker_context>& ctx, rules_file loaded) {
  ctx->rules = std::make_shared<rules_control>();
  for (std::uint32_t i = 0; i < cfg_.rules.workers; ++i)
    ctx->rule_workers.add(spawn_fed([&](inflow_ptr bound) {
      return system_->spawn(rule_worker, i, context_ptr{ctx}, std::move(bound));
    }));
  rule_book::settings book_settings;
  book_settings.archive_root =
      cfg_.rules.archive_dir.empty()
          ? (std::filesystem::path(cfg_.node.data_dir) / "archive").string()
          : cfg_.rules.archive_dir;
  book_settings.max_inflated = cfg_.rules.max_inflated_bytes;
  book_settings.max_api_definitions = cfg_.rules.max_api_definitions;
  rules_ = std::make_shared<rule_book>(*system_, ctx->rules, store_, book_settings);
  if (!cfg_.rules.file.empty()) rules_file_stamp_ = file_stamp::of(cfg_.rules.file);
  rules_->start(std::move(loaded));
}

void node::spawn_command_shards(const std::shared_ptr<broker_context>& ctx) {
  command_settings settings;
  settings.notification_topic = cfg_.commands.notification_topic;
  settings.require_consent = cfg_.commands.require_consent;
  settings.retention_ms = std::int64_t{cfg_.commands.retention_hours} * 3'600'000;
  settings.max_active = cfg_.commands.max_active;
  settings.max_active_per_vehicle = cfg_.commands.max_active_per_vehicle;
  const auto count = cfg_.commands.shards;
  for (std::uint32_t i = 0; i < count; ++i)
    ctx->command_shards.add(system_->spawn(command_shard, i, count, context_ptr{ctx}, settings));
  // Vehicles report on vehicles/{vin}/command-status/{id}: one shared
  // subscription of all command shards, as for vehicle state.
  for (std::uint32_t i = 0; i < count; ++i) {
    const auto& shard = ctx->command_shards.at(i);
    caf::anon_send(shard, command_shards{ctx->command_shards.all()});
    subscribe_request s;
    s.subscriber = shard;
    s.client_id = "$convoy/commands/" + std::to_string(i);
    s.filter = "$share/convoy-by-vin-commands/vehicles/+/command-status/+";
    s.options.max_qos = mqtt::qos::at_least_once;
    for (const auto& topic_shard : ctx->topic_shards)
      caf::anon_send(topic_shard, s);
  }
}

// The edges: MQTT (TCP, TLS, WebSocket) and HTTP listeners, their I/O
// threads, signals and file watches.
void node::open_edges() {
  edge_.connect_timeout_ms = cfg_.mqtt.connect_timeout_ms;
  edge_.max_outbound_bytes = cfg_.mqtt.max_outbound_bytes;
  edge_.auth_failure_delay_ms = cfg_.auth.failure_delay_ms;
  edge_.max_connections = cfg_.mqtt.max_connections;
  edge_.max_connect_rate_per_address = cfg_.mqtt.max_connect_rate_per_address;
  edge_.max_publish_rate = cfg_.mqtt.max_publish_rate;
  edge_.max_publish_bytes_rate = cfg_.mqtt.max_publish_bytes_rate;
  edge_.max_auth_failure_delay_ms = cfg_.auth.max_failure_delay_ms;
  edge_.certificate_identity_field = cfg_.tls.identity;
  auto io_threads = std::max<std::uint32_t>(cfg_.broker.io_threads, 1);
  for (std::uint32_t i = 0; i < io_threads; ++i) {
    io_contexts_.push_back(std::make_unique<boost::asio::io_context>(1));
    edge_.io_contexts.push_back(io_contexts_.back().get());
  }
  auto& io = *io_contexts_.front();
  listener_ = open_listener("MQTT", cfg_.mqtt.bind, cfg_.mqtt.port, true, nullptr, nullptr);
  if (tls_) start_tls();
  if (cfg_.websocket.enabled) start_websocket();
  if (cfg_.http.enabled) start_http();
  // Set up before the I/O threads run: an io_context for one thread takes
  // operations only from that thread once it runs, and a signal from now
  // on is not lost.
  signals_ = std::make_unique<boost::asio::signal_set>(io, SIGINT, SIGTERM);
  signals_->async_wait([this](boost::system::error_code ec, int signo) {
    if (!ec && !signalled_set_.exchange(true)) signalled_.set_value(signo);
  });
  hangup_ = std::make_unique<boost::asio::signal_set>(io, SIGHUP);
  await_sighup();
  if (!cfg_.auth.acl_file.empty() || !cfg_.rules.file.empty()) {
    access_reload_timer_ = std::make_unique<boost::asio::steady_timer>(io);
    schedule_access_reload();
  }
  for (auto& context : io_contexts_) {
    work_.push_back(boost::asio::make_work_guard(*context));
    io_threads_.emplace_back([c = context.get()] { c->run(); });
  }
  if (http_) {
    http_work_.emplace(boost::asio::make_work_guard(*http_io_));
    http_thread_ = std::thread([io = http_io_.get()] { io->run(); });
  }
  accepting_ = true;
  spdlog::info("node {} listening for MQTT on {}:{} ({} topic shards)", cfg_.node.name,
               cfg_.mqtt.bind, mqtt_port(), cfg_.broker.topic_shards);
}

std::unique_ptr<mqtt_listener> node::open_listener(const char* what, const std::string& bind,
                                                   std::uint16_t port, bool runs_sweep,
                                                   const tls_context_source* tls,
                                                   const websocket::upgrade_rules* websocket) {
  auto listener =
      std::make_unique<mqtt_listener>(*io_contexts_.front(), edge_, runs_sweep, tls, websocket);
  try {
    listener->listen(bind, port);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string{"cannot listen for "} + what + " on " + bind + ":" +
                             std::to_string(port) + ": " + e.what());
  }
  return listener;
}

void node::start_http() {
  const auto& h = cfg_.http;
  node_facts facts;
  facts.name = cfg_.node.name;
  facts.version = CONVOY_VERSION;
  facts.started = std::chrono::steady_clock::now();
  facts.started_at_ms = now_ms();
  facts.listeners = [this] {
    std::vector<std::pair<std::string, std::uint16_t>> out{{"mqtt", mqtt_port()}};
    if (tls_port()) out.emplace_back("mqtt+tls", tls_port());
    if (websocket_port()) out.emplace_back("ws", websocket_port());
    if (websocket_tls_port()) out.emplace_back("wss", websocket_tls_port());
    out.emplace_back("http", http_port());
    return out;
  };
  facts.accepting = [this] { return accepting_.load(); };
  facts.cluster_agent = cluster_agent_;
  try {
    api_ = std::make_unique<management_api>(*system_, edge_.broker, edge_.registry, cfg_,
                                            std::move(facts), rules_);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string{"HTTP API: "} + e.what());
  }
  http_io_ = std::make_unique<boost::asio::io_context>(1);
  http_limits limits;
  limits.max_body_bytes = h.max_body_bytes;
  limits.max_connections = h.max_connections;
  auto* api = api_.get();
  http_ = std::make_unique<http_server>(
      *http_io_,
      [api](http_request&& r, const http_peer& p, http_responder respond) {
        api->handle(std::move(r), p, std::move(respond));
      },
      limits);
  try {
    http_->listen(h.bind, h.port);
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot listen for HTTP on " + h.bind + ":" + std::to_string(h.port) +
                             ": " + e.what());
  }
  spdlog::info("management API, /metrics and health checks on http://{}:{}/", h.bind, http_port());
  if (h.api_keys_file.empty() && !cfg_.jwt.enabled)
    spdlog::warn(
        "the management API on {}:{} takes requests without credentials (no http.api_keys_file, "
        "no [jwt]); fine on a developer's machine, never in production",
        h.bind, http_port());
}

void node::start_websocket() {
  const auto& w = cfg_.websocket;
  websocket_rules_.path = w.path;
  websocket_rules_.allowed_origins.clear();
  for (auto origin : split_list(w.allowed_origins))
    websocket_rules_.allowed_origins.emplace_back(origin);
  ws_listener_ =
      open_listener("MQTT over WebSocket", w.bind, w.port, false, nullptr, &websocket_rules_);
  spdlog::info("listening for MQTT over WebSocket on ws://{}:{}{}", w.bind, websocket_port(),
               w.path);
  if (!w.tls_enabled) return;
  wss_listener_ = open_listener("MQTT over secure WebSocket", w.bind, w.tls_port, false, tls_.get(),
                                &websocket_rules_);
  spdlog::info("listening for MQTT over secure WebSocket on wss://{}:{}{}", w.bind,
               websocket_tls_port(), w.path);
}

void node::start_tls() {
  if (cfg_.tls.enabled) {
    tls_listener_ =
        open_listener("MQTT over TLS", cfg_.tls.bind, cfg_.tls.port, false, tls_.get(), nullptr);
    spdlog::info("listening for MQTT over TLS on {}:{} (client certificates {}, TLS {}+)",
                 cfg_.tls.bind, tls_port(), cfg_.tls.client_certificates, cfg_.tls.min_version);
  }
  auto& io = *io_contexts_.front();
  tls_reload_timer_ = std::make_unique<boost::asio::steady_timer>(io);
  schedule_tls_reload();
}

void node::schedule_tls_reload() {
  if (cfg_.tls.reload_interval_ms == 0) return;
  tls_reload_timer_->expires_after(std::chrono::milliseconds(cfg_.tls.reload_interval_ms));
  tls_reload_timer_->async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    reload_tls(false);
    schedule_tls_reload();
  });
}

// SIGHUP reloads what can change without a restart: the TLS files.
void node::await_sighup() {
  hangup_->async_wait([this](boost::system::error_code ec, int) {
    if (ec) return;
    spdlog::info("SIGHUP received, reloading");
    if (tls_) reload_tls(true);
    if (!cfg_.auth.acl_file.empty()) reload_access(true);
    if (!cfg_.rules.file.empty()) reload_rules(true);
    await_sighup();
  });
}

void node::schedule_access_reload() {
  if (cfg_.auth.reload_interval_ms == 0) return;
  access_reload_timer_->expires_after(std::chrono::milliseconds(cfg_.auth.reload_interval_ms));
  access_reload_timer_->async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    if (!cfg_.auth.acl_file.empty()) reload_access(false);
    if (!cfg_.rules.file.empty()) reload_rules(false);
    schedule_access_reload();
  });
}

void node::reload_access(bool force) {
  file_stamp now = file_stamp::of(cfg_.auth.acl_file);
  if (!force && (now == access_file_stamp_ || access_file_failed_ == now)) return;
  try {
    auto policy = std::make_shared<const access_policy>(load_access_file(cfg_.auth.acl_file));
    edge_.broker->access->install(std::move(policy));
  } catch (const access_file_error& e) {
    access_file_failed_ = now;
    metrics::add(counter::acl_reload_failures);
    spdlog::error("auth.acl_file not reloaded, the previous rules stay in force: {}", e.what());
    return;
  }
  access_file_stamp_ = now;
  access_file_failed_.reset();
  spdlog::info("access rules reloaded from {}; applying them to every session", cfg_.auth.acl_file);
  caf::anon_send(edge_.registry, access_changed{});
}

// A changed rules.file replaces its rules at once (the API's rules stay),
// starting the archives and webhooks it adds and reconfiguring those it
// changes; a file that does not load, or clashes with the API's rules,
// leaves the rules in force.
void node::reload_rules(bool force) {
  file_stamp now = file_stamp::of(cfg_.rules.file);
  if (!force && (now == rules_file_stamp_ || rules_file_failed_ == now)) return;
  auto refuse = [&](const std::string& why) {
    rules_file_failed_ = now;
    metrics::add(counter::rules_reload_failures);
    spdlog::error("rules.file not reloaded, the previous rules stay in force: {}", why);
  };
  rules_file loaded;
  try {
    loaded = load_rules_file(cfg_.rules.file);
  } catch (const rules_file_error& e) {
    return refuse(e.what());
  }
  auto count = loaded.rules.size();
  if (auto why = rules_->use_file(std::move(loaded)); !why.empty()) return refuse(why);
  rules_file_stamp_ = now;
  rules_file_failed_.reset();
  spdlog::info("routing rules reloaded from {}: {} rules", cfg_.rules.file, count);
}

void node::reload_tls(bool force) {
  auto result = tls_->reload(force);
  if (!result.error.empty()) {
    metrics::add(counter::tls_reload_failures);
    spdlog::error("TLS files not reloaded, the previous ones stay in use: {}", result.error);
    return;
  }
  if (!result.reloaded) return;
  spdlog::info("TLS files reloaded; new connections use them");
  if (!result.trust_changed || cfg_.tls.client_certificates == "none") return;
  auto ctx = tls_->current();
  edge_.for_each_connection([&](const auto& c) { c->recheck_certificate(ctx.get()); });
}

// Brings back the persistent sessions before the listener opens: each one's
// subscriptions are in the shards' mailboxes ahead of any publish, and a
// resuming client finds its session.
void node::restore_sessions() {
  auto sessions = store_->load_sessions();
  if (sessions.empty()) return;
  caf::scoped_actor self{*system_};
  for (auto& s : sessions)
    self->send(edge_.registry, restore_session{std::move(s)});
  std::size_t restored = 0;
  self->receive_for(restored, sessions.size())(
      [](bool) {},
      [](const caf::error& e) { spdlog::error("restoring a session failed: {}", to_string(e)); });
  spdlog::info("restored {} persistent sessions", restored);
}

// A member that stops has left etcd (its claims went with its lease) and no
// longer acts as any slice's home; the members that take its topic slices
// over take their retained messages from it. It waits for that, at most
// peer_answer_timeout, when another member is there to take them.
void node::hand_over_retained() {
  caf::scoped_actor self{*system_};
  const auto bound = std::chrono::seconds(1);
  std::vector<caf::actor> handing;
  for (auto& shard : shards_)
    self->request(shard, bound, leaving_home{})
        .receive(
            [&](bool had) {
              if (had) handing.push_back(shard);
            },
            [](caf::error&) {});
  bool others = false;
  self->request(cluster_agent_, bound, cluster::cluster_status_request{})
      .receive(
          [&](const cluster::cluster_status& s) {
            for (const auto& l : s.links)
              others = others || l.state == "up";
          },
          [](caf::error&) {});
  if (handing.empty() || !others) return;
  const auto deadline = std::chrono::steady_clock::now() + peer_answer_timeout;
  std::uint64_t held = 0;
  do {
    held = 0;
    for (auto& shard : handing)
      self->request(shard, bound, retained_held_request{})
          .receive([&](std::uint64_t n) { held += n; }, [](caf::error&) {});
    if (held == 0) {
      spdlog::info("the retained messages of this node's topic slices were taken over");
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  } while (std::chrono::steady_clock::now() < deadline);
  spdlog::warn("stopping with {} retained messages that no other member took over", held);
}

int node::run_until_signal() {
  int signo = signalled_.get_future().get();
  if (signo != 0) spdlog::info("signal {} received, shutting down", signo);
  stop();
  return signo == 0 ? 1 : 0;
}

void node::stop() {
  if (stopped_) return;
  stopped_ = true;
  accepting_ = false;
  // Leaving first: the other members see this node go at once.
  if (keeper_) keeper_->stop();
  if (listener_) {
    boost::asio::post(*io_contexts_.front(), [this] {
      listener_->stop();
      if (tls_listener_) tls_listener_->stop();
      if (ws_listener_) ws_listener_->stop();
      if (wss_listener_) wss_listener_->stop();
      if (tls_reload_timer_) tls_reload_timer_->cancel();
      if (hangup_) hangup_->cancel();
      if (access_reload_timer_) access_reload_timer_->cancel();
    });
    edge_.for_each_connection(
        [](const auto& c) { c->shut_down(mqtt::reason_code::server_shutting_down); });
    // Give goodbyes a moment to reach the wire: up to 3 s on a loaded
    // machine, usually a few milliseconds.
    for (int i = 0; i < 300; ++i) {
      {
        std::lock_guard lock{edge_.connections_mutex};
        if (edge_.connections.empty()) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  if (cluster_agent_) hand_over_retained();
  if (edge_.registry) caf::anon_send_exit(edge_.registry, caf::exit_reason::user_shutdown);
  for (auto& shard : shards_)
    caf::anon_send_exit(shard, caf::exit_reason::user_shutdown);
  if (edge_.broker) {
    for (const auto& shard : edge_.broker->registry_shards)
      caf::anon_send_exit(shard, caf::exit_reason::user_shutdown);
    for (const auto& shard : edge_.broker->state_shards)
      caf::anon_send_exit(shard, caf::exit_reason::user_shutdown);
    for (const auto& shard : edge_.broker->consent_shards)
      caf::anon_send_exit(shard, caf::exit_reason::user_shutdown);
    for (const auto& shard : edge_.broker->command_shards)
      caf::anon_send_exit(shard, caf::exit_reason::user_shutdown);
    for (const auto& worker : edge_.broker->rule_workers)
      caf::anon_send_exit(worker.actor, caf::exit_reason::user_shutdown);
    if (rules_) rules_->stop();
    caf::anon_send_exit(edge_.broker->registry_control, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(edge_.broker->refusal_log, caf::exit_reason::user_shutdown);
  }
  if (edge_.broker && edge_.broker->storage_gate)
    caf::anon_send_exit(edge_.broker->storage_gate, caf::exit_reason::user_shutdown);
  if (http_io_) {
    boost::asio::post(*http_io_, [this] { http_->stop(); });
    http_work_.reset();
    http_io_->stop();
    if (http_thread_.joinable()) http_thread_.join();
  }
  work_.clear();
  for (auto& context : io_contexts_)
    context->stop();
  for (auto& t : io_threads_)
    t.join();
  io_threads_.clear();
  {
    std::lock_guard lock{edge_.connections_mutex};
    edge_.connections.clear();
  }
  listener_.reset();
  http_.reset();
  http_io_.reset();
  api_.reset();
  tls_listener_.reset();
  ws_listener_.reset();
  wss_listener_.reset();
  tls_reload_timer_.reset();
  hangup_.reset();
  access_reload_timer_.reset();
  signals_.reset();
  edge_.registry = nullptr;
  edge_.broker = nullptr;
  shards_.clear();
  if (cluster_agent_) caf::anon_send_exit(cluster_agent_, caf::exit_reason::user_shutdown);
  cluster_agent_ = nullptr;
  if (session_directory_) caf::anon_send_exit(session_directory_, caf::exit_reason::user_shutdown);
  session_directory_ = nullptr;
  keeper_.reset();
  system_.reset();
  store_.reset();  // after the actors: drains the writes they submitted
}

}  // namespace convoy::runtime
