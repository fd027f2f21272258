#include "runtime/storage/lmdb_store.hpp"

#include <unordered_set>

#include <spdlog/spdlog.h>

#include "protocol/decoder.hpp"
#include "protocol/encoder.hpp"
#include "runtime/storage/inflight_in_entry.hpp"
#include "runtime/storage/queue_entry.hpp"
#include "runtime/storage/read_txn.hpp"
#include "runtime/storage/record_keys.hpp"
#include "runtime/storage/stored_command.hpp"
#include "runtime/storage/stored_consent.hpp"
#include "runtime/storage/stored_message.hpp"
#include "runtime/storage/stored_session.hpp"
#include "runtime/storage/stored_vehicle.hpp"
#include "runtime/storage/stored_vehicle_state.hpp"

namespace convoy::runtime {

template <class... Args>
std::optional<storage::read_txn> lmdb_store::begin_read(fmt::format_string<Args...> what,
                                                        Args&&... args) {
  auto txn = storage::read_txn::begin(env_);
  if (txn) return std::move(*txn);
  spdlog::error("storage: {}: {}", fmt::format(what, std::forward<Args>(args)...),
                txn.error().what());
  return std::nullopt;
}

namespace {

std::string encode_props(const mqtt::properties& props) {
  mqtt::byte_buffer block;
  mqtt::encode_property_block(props, block);
  return {block.begin(), block.end()};
}

std::optional<mqtt::properties> decode_props(std::string_view block, mqtt::property_context ctx) {
  return mqtt::decode_property_block(
      {reinterpret_cast<const std::uint8_t*>(block.data()), block.size()}, ctx);
}

storage::stored_message to_stored(const app_message& m) {
  storage::stored_message s;
  s.topic = m.topic;
  if (m.payload) s.payload = *m.payload;
  s.qos = m.qos;
  s.retain = m.retain;
  s.properties = encode_props(m.props);
  s.expires_at_ms = m.expires_at;
  s.received_at_ms = now_ms();
  return s;
}

// Nullopt when the stored properties do not decode: the record is damaged.
std::optional<message_ref> from_stored(storage::stored_message&& s) {
  auto props = decode_props(s.properties, mqtt::property_context::publish);
  if (!props) return std::nullopt;
  auto m = std::make_shared<app_message>();
  m->topic = std::move(s.topic);
  m->payload = std::make_shared<const std::string>(std::move(s.payload));
  m->qos = s.qos;
  m->retain = s.retain;
  m->expires_at = s.expires_at_ms;
  m->props = std::move(*props);
  return message_ref{std::move(m)};
}

// The will's Message Expiry Interval travels in its property block.
storage::stored_session to_stored(const session_record& r) {
  const connection_params& p = r.params;
  storage::stored_session s;
  s.client_id = p.client_id;
  s.version = p.version;
  s.session_expiry_interval = p.session_expiry;
  s.disconnected_at_ms = r.disconnected_at;
  s.incarnation = r.incarnation;
  if (p.principal && p.principal->verified)
    s.owner = storage::stored_session::owner_identity{
        p.principal->identity, static_cast<std::uint8_t>(p.principal->method)};
  for (const auto& sub : r.subscriptions) {
    storage::stored_subscription out{sub.filter, sub.options, std::nullopt};
    if (sub.subscription_id != 0) out.subscription_id = sub.subscription_id;
    s.subscriptions.push_back(std::move(out));
  }
  if (p.has_will) {
    const will_spec& w = p.will;
    mqtt::properties props = w.props;
    if (w.has_expiry) props.add(mqtt::property_id::message_expiry_interval, w.expiry_interval);
    s.will = storage::stored_will{w.topic,  w.payload,        w.qos,
                                  w.retain, w.delay_interval, encode_props(props)};
  }
  return s;
}

std::optional<session_record> from_stored(storage::stored_session&& s) {
  session_record r;
  connection_params& p = r.params;
  p.client_id = std::move(s.client_id);
  p.version = s.version;
  p.session_expiry = s.session_expiry_interval;
  p.clean_start = false;
  r.disconnected_at = s.disconnected_at_ms;
  r.incarnation = s.incarnation;
  r.owner_unknown = !s.owner_known;
  // The role is not stored: it is looked up in the policy in force.
  if (s.owner)
    p.principal =
        make_principal(std::move(s.owner->identity), static_cast<auth_method>(s.owner->method));
  for (auto& sub : s.subscriptions)
    r.subscriptions.push_back(
        {std::move(sub.filter), sub.options, sub.subscription_id.value_or(0)});
  if (s.will) {
    auto props = decode_props(s.will->properties, mqtt::property_context::will);
    if (!props) return std::nullopt;
    will_spec& w = p.will;
    p.has_will = true;
    w.topic = std::move(s.will->topic);
    w.payload = std::move(s.will->payload);
    w.qos = s.will->qos;
    w.retain = s.will->retain;
    w.delay_interval = s.will->delay_interval;
    if (auto expiry = props->number(mqtt::property_id::message_expiry_interval)) {
      w.has_expiry = true;
      w.expiry_interval = *expiry;
      props->remove(mqtt::property_id::message_expiry_interval);
    }
    w.props = std::move(*props);
  }
  return r;
}

storage::queue_entry to_entry(std::uint64_t stored_id, const delivery& d, std::uint16_t packet_id,
                              outgoing_stage stage, std::uint32_t incarnation) {
  storage::queue_entry e;
  e.message_id = stored_id;
  e.qos = d.qos;
  e.packet_id = packet_id;
  e.state = static_cast<storage::delivery_state>(stage);
  e.retain = d.retain;
  e.subscription_ids = d.subscription_ids;
  e.incarnation = incarnation;
  return e;
}

storage::write_completion report(durable_store::completion done, std::string what) {
  return [done = std::move(done), what = std::move(what)](std::optional<storage::storage_error> e) {
    if (e) spdlog::error("storage: {} failed: {}", what, e->what());
    done(!e);
  };
}

}  // namespace

lmdb_store::lmdb_store(const storage::storage_options& options)
    : env_(options.data_dir, options.env), writer_(env_, options.commit) {
  auto txn = storage::read_txn::begin(env_);
  if (!txn) throw txn.error();
  auto last = txn->last_key(storage::database::messages);
  if (!last) throw last.error();
  if (*last) {
    auto id = storage::message_id_of(**last);
    if (!id) throw id.error();
    next_message_id_ = *id + 1;
  }
}

lmdb_store::~lmdb_store() {
  writer_.stop();
}

void lmdb_store::put_retained(const app_message& m, storage::write_batch& batch) {
  if (!m.payload || m.payload->empty())
    batch.erase(storage::database::retained, storage::retained_key(m.topic));
  else
    batch.put(storage::database::retained, storage::retained_key(m.topic),
              storage::encode_message(to_stored(m)));
}

bool lmdb_store::save_retained(const app_message& m, completion done) {
  storage::write_batch batch{
      report(std::move(done), "storing the retained message of '" + m.topic + "'")};
  put_retained(m, batch);
  return writer_.submit(std::move(batch));
}

std::optional<std::uint64_t> lmdb_store::save_route(const app_message& m, bool store_retained,
                                                    const std::vector<queue_target>& targets,
                                                    completion done) {
  storage::write_batch batch{report(std::move(done), "storing a message to '" + m.topic + "'")};
  if (store_retained) put_retained(m, batch);
  std::uint64_t id = 0;
  if (!targets.empty()) {
    id = next_message_id_.fetch_add(1, std::memory_order_relaxed);
    batch.put(storage::database::messages, storage::message_key(id),
              storage::encode_message(to_stored(m)));
    for (const auto& t : targets)
      batch.put(storage::database::queues, storage::queue_key(t.client_id, id),
                storage::encode_queue_entry(
                    to_entry(id, *t.d, 0, outgoing_stage::queued, t.incarnation)));
    // Counted before the batch is handed over: a session can release the
    // message only after the caller delivered it, which is after this.
    std::lock_guard lock{references_mutex_};
    references_[id] = static_cast<std::uint32_t>(targets.size());
  }
  if (!writer_.submit(std::move(batch))) {
    if (id != 0) {
      std::lock_guard lock{references_mutex_};
      references_.erase(id);
    }
    return std::nullopt;
  }
  return id;
}

bool lmdb_store::save_outgoing_stage(const std::string& client_id, std::uint32_t incarnation,
                                     const delivery& d, std::uint16_t packet_id,
                                     outgoing_stage stage, completion done) {
  storage::write_batch batch{
      report(std::move(done),
             "storing packet id " + std::to_string(packet_id) + " of '" + client_id + "'")};
  batch.put(storage::database::queues, storage::queue_key(client_id, d.stored_id),
            storage::encode_queue_entry(to_entry(d.stored_id, d, packet_id, stage, incarnation)));
  return writer_.submit(std::move(batch));
}

void lmdb_store::drop_reference(std::uint64_t stored_id, storage::write_batch& batch) {
  std::lock_guard lock{references_mutex_};
  auto it = references_.find(stored_id);
  if (it == references_.end() || --it->second > 0) return;
  references_.erase(it);
  batch.erase(storage::database::messages, storage::message_key(stored_id));
}

bool lmdb_store::release(const std::string& client_id, std::uint64_t stored_id, completion done) {
  storage::write_batch batch{report(std::move(done), "releasing a message of '" + client_id + "'")};
  batch.erase(storage::database::queues, storage::queue_key(client_id, stored_id));
  drop_reference(stored_id, batch);
  if (writer_.submit(std::move(batch))) return true;
  // Not written: the entry stays, and with it the reference (the next
  // start counts references from the entries again).
  std::lock_guard lock{references_mutex_};
  ++references_[stored_id];
  return false;
}

std::vector<message_ref> lmdb_store::load_retained() {
  std::vector<message_ref> out;
  std::vector<std::string> expired;
  epoch_ms now = now_ms();
  auto loaded = storage::load_all(
      env_, storage::database::retained, [&](std::string_view key, std::string_view value) {
        auto record = storage::decode_message(value);
        std::optional<message_ref> m;
        if (record) m = from_stored(std::move(*record));
        if (!m) {
          // One damaged record must not keep the node from starting.
          spdlog::error("storage: skipping a damaged retained message record ({})",
                        record ? "bad properties" : record.error().what());
          return;
        }
        if ((*m)->expires_at != 0 && (*m)->expires_at <= now) {
          expired.emplace_back(key);
          return;
        }
        out.push_back(std::move(*m));
      });
  if (!loaded) throw loaded.error();
  if (!expired.empty()) {
    storage::write_batch batch{[](std::optional<storage::storage_error> e) {
      if (e) spdlog::warn("storage: could not delete expired retained messages: {}", e->what());
    }};
    for (auto& key : expired)
      batch.erase(storage::database::retained, std::move(key));
    if (!writer_.submit(std::move(batch)))
      spdlog::warn("storage: expired retained messages left for the next start");
  }
  return out;
}

namespace {

std::optional<vehicle_record> vehicle_from(std::string_view value, std::string_view vin) {
  auto stored = storage::decode_vehicle(value);
  if (!stored) {
    spdlog::error("storage: the record of vehicle '{}' is damaged: {}", vin, stored.error().what());
    return std::nullopt;
  }
  vehicle_record v;
  v.vin = std::move(stored->vin);
  v.model = std::move(stored->model);
  v.region = std::move(stored->region);
  v.status = static_cast<vehicle_status>(stored->status);
  v.created_at = stored->created_at_ms;
  v.updated_at = stored->updated_at_ms;
  for (auto& d : stored->devices)
    v.devices.push_back({std::move(d.device_id), std::move(d.fingerprint),
                         static_cast<device_status>(d.status), d.added_at_ms});
  return v;
}

}  // namespace

std::optional<vehicle_record> lmdb_store::load_vehicle(const std::string& vin) {
  auto txn = begin_read("reading vehicle '{}'", vin);
  if (!txn) return std::nullopt;
  auto value = txn->get(storage::database::vehicles, storage::name_key(vin));
  if (!value) {
    spdlog::error("storage: reading vehicle '{}': {}", vin, value.error().what());
    return std::nullopt;
  }
  if (!*value) return std::nullopt;
  return vehicle_from(**value, vin);
}

// VINs are at most 64 bytes, so their keys are the VINs themselves and the
// scan runs in VIN order.
std::vector<vehicle_record> lmdb_store::list_vehicles(
    const std::string& after, std::size_t limit,
    const std::function<bool(const vehicle_record&)>& wanted, bool& more) {
  std::vector<vehicle_record> out;
  more = false;
  auto txn = begin_read("listing vehicles");
  if (!txn) return out;
  auto scanned = txn->for_each_after(storage::database::vehicles, storage::name_key(after),
                                     [&](std::string_view key, std::string_view value) {
                                       auto v = vehicle_from(value, key);
                                       if (!v || !wanted(*v)) return true;
                                       if (out.size() == limit) {
                                         more = true;
                                         return false;
                                       }
                                       out.push_back(std::move(*v));
                                       return true;
                                     });
  if (!scanned) spdlog::error("storage: listing vehicles: {}", scanned.error().what());
  return out;
}

bool lmdb_store::save_vehicle(const vehicle_record& v, completion done) {
  storage::stored_vehicle s;
  s.vin = v.vin;
  s.model = v.model;
  s.region = v.region;
  s.status = static_cast<std::uint8_t>(v.status);
  s.created_at_ms = v.created_at;
  s.updated_at_ms = v.updated_at;
  for (const auto& d : v.devices)
    s.devices.push_back(
        {d.device_id, d.fingerprint, static_cast<std::uint8_t>(d.status), d.added_at});
  storage::write_batch batch{report(std::move(done), "storing vehicle '" + v.vin + "'")};
  batch.put(storage::database::vehicles, storage::name_key(v.vin), storage::encode_vehicle(s));
  return writer_.submit(std::move(batch));
}

bool lmdb_store::erase_vehicle(const std::string& vin, completion done) {
  storage::write_batch batch{report(std::move(done), "deleting vehicle '" + vin + "'")};
  batch.erase(storage::database::vehicles, storage::name_key(vin));
  return writer_.submit(std::move(batch));
}

std::vector<consent_record> lmdb_store::load_consents(const std::string& vin) {
  std::vector<consent_record> out;
  auto txn = begin_read("reading the consents of '{}'", vin);
  if (!txn) return out;
  auto scanned =
      txn->for_each(storage::database::consents, storage::consent_prefix(vin),
                    [&](std::string_view, std::string_view value) {
                      auto stored = storage::decode_consent(value);
                      if (!stored) {
                        spdlog::error("storage: a consent record of '{}' is damaged: {}", vin,
                                      stored.error().what());
                        return;
                      }
                      out.push_back({std::move(stored->vin), std::move(stored->subject),
                                     std::move(stored->purpose), stored->granted_at_ms,
                                     stored->expires_at_ms, std::move(stored->granted_by)});
                    });
  if (!scanned)
    spdlog::error("storage: reading the consents of '{}': {}", vin, scanned.error().what());
  return out;
}

std::optional<vehicle_state> lmdb_store::load_vehicle_state(const std::string& vin) {
  auto txn = begin_read("reading the state of '{}'", vin);
  if (!txn) return std::nullopt;
  auto value = txn->get(storage::database::vehicle_states, storage::name_key(vin));
  if (!value || !*value) return std::nullopt;
  auto stored = storage::decode_vehicle_state(**value);
  if (!stored) {
    spdlog::error("storage: the state record of '{}' is damaged: {}", vin, stored.error().what());
    return std::nullopt;
  }
  vehicle_state s;
  s.vin = std::move(stored->vin);
  s.updated_at = stored->updated_at_ms;
  for (auto& f : stored->fields)
    s.fields.push_back({std::move(f.name), std::move(f.value), f.at_ms});
  for (auto& f : stored->history)
    s.history.push_back({std::move(f.name), std::move(f.value), f.at_ms});
  return s;
}

bool lmdb_store::save_vehicle_state(const vehicle_state& s, completion done) {
  storage::stored_vehicle_state stored;
  stored.vin = s.vin;
  stored.updated_at_ms = s.updated_at;
  for (const auto& f : s.fields)
    stored.fields.push_back({f.name, f.value, f.at});
  for (const auto& f : s.history)
    stored.history.push_back({f.name, f.value, f.at});
  storage::write_batch batch{report(std::move(done), "storing the state of '" + s.vin + "'")};
  batch.put(storage::database::vehicle_states, storage::name_key(s.vin),
            storage::encode_vehicle_state(stored));
  return writer_.submit(std::move(batch));
}

bool lmdb_store::save_consent(const consent_record& c, completion done) {
  storage::stored_consent s{c.vin, c.subject, c.purpose, c.granted_at, c.expires_at, c.granted_by};
  storage::write_batch batch{report(std::move(done), "storing a consent of '" + c.vin + "'")};
  batch.put(storage::database::consents, storage::consent_key(c.vin, c.subject, c.purpose),
            storage::encode_consent(s));
  return writer_.submit(std::move(batch));
}

bool lmdb_store::erase_consent(const std::string& vin, const std::string& subject,
                               const std::string& purpose, completion done) {
  storage::write_batch batch{report(std::move(done), "deleting a consent of '" + vin + "'")};
  batch.erase(storage::database::consents, storage::consent_key(vin, subject, purpose));
  return writer_.submit(std::move(batch));
}

namespace {

command_record from_stored(storage::stored_command&& s) {
  command_record c;
  c.id = std::move(s.id);
  c.vin = std::move(s.vin);
  c.name = std::move(s.name);
  c.params = std::move(s.params);
  c.requested_by = std::move(s.requested_by);
  c.idempotency_key = std::move(s.idempotency_key);
  c.created_at = s.created_at_ms;
  c.timeout_ms = s.timeout_ms;
  c.ttl_ms = s.ttl_ms;
  c.sent_at = s.sent_at_ms;
  c.status = static_cast<command_status>(s.status);
  c.result = std::move(s.result);
  for (auto& e : s.timeline)
    c.timeline.push_back({e.at_ms, static_cast<command_status>(e.status), std::move(e.detail)});
  return c;
}

// The VIN of a commands key (VIN NUL id).
std::string_view vin_of_command_key(std::string_view key) {
  return key.substr(0, key.find('\0'));
}

}  // namespace

std::vector<command_record> lmdb_store::load_commands(
    const std::function<bool(std::string_view vin)>& wanted) {
  std::vector<command_record> out;
  auto txn = begin_read("reading commands");
  if (!txn) return out;
  auto scanned = txn->for_each(
      storage::database::commands, "", [&](std::string_view key, std::string_view value) {
        if (!wanted(vin_of_command_key(key))) return;
        auto stored = storage::decode_command(value);
        if (!stored) {
          spdlog::error("storage: a command record is damaged: {}", stored.error().what());
          return;
        }
        out.push_back(from_stored(std::move(*stored)));
      });
  if (!scanned) spdlog::error("storage: reading commands: {}", scanned.error().what());
  return out;
}

std::optional<command_record> lmdb_store::load_command(const std::string& vin,
                                                       const std::string& id) {
  auto txn = begin_read("reading command '{}'", id);
  if (!txn) return std::nullopt;
  auto value = txn->get(storage::database::commands, storage::command_key(vin, id));
  if (!value || !*value) return std::nullopt;
  auto stored = storage::decode_command(**value);
  if (!stored) {
    spdlog::error("storage: the record of command '{}' is damaged: {}", id, stored.error().what());
    return std::nullopt;
  }
  return from_stored(std::move(*stored));
}

std::vector<command_record> lmdb_store::list_commands(const std::string& vin,
                                                      const std::string& before, std::size_t limit,
                                                      bool& more) {
  // A vehicle keeps its commands for the retention time only, so reading
  // its keys forward and keeping the newest is cheap enough.
  std::vector<std::string> values;
  more = false;
  auto txn = begin_read("listing the commands of '{}'", vin);
  if (!txn) return {};
  const std::string prefix = storage::command_prefix(vin);
  auto scanned = txn->for_each(storage::database::commands, prefix,
                               [&](std::string_view key, std::string_view value) {
                                 if (!before.empty() && key.substr(prefix.size()) >= before) return;
                                 values.emplace_back(value);
                               });
  if (!scanned)
    spdlog::error("storage: listing the commands of '{}': {}", vin, scanned.error().what());
  std::vector<command_record> out;
  for (auto it = values.rbegin(); it != values.rend(); ++it) {
    if (out.size() == limit) {
      more = true;
      break;
    }
    auto stored = storage::decode_command(*it);
    if (!stored) {
      spdlog::error("storage: a command record of '{}' is damaged: {}", vin, stored.error().what());
      continue;
    }
    out.push_back(from_stored(std::move(*stored)));
  }
  return out;
}

bool lmdb_store::save_command(const command_record& c, completion done) {
  storage::stored_command s;
  s.id = c.id;
  s.vin = c.vin;
  s.name = c.name;
  s.params = c.params;
  s.requested_by = c.requested_by;
  s.idempotency_key = c.idempotency_key;
  s.created_at_ms = c.created_at;
  s.timeout_ms = c.timeout_ms;
  s.ttl_ms = c.ttl_ms;
  s.sent_at_ms = c.sent_at;
  s.status = static_cast<std::uint8_t>(c.status);
  s.result = c.result;
  for (const auto& e : c.timeline)
    s.timeline.push_back({e.at, static_cast<std::uint8_t>(e.status), e.detail});
  storage::write_batch batch{report(std::move(done), "storing command '" + c.id + "'")};
  batch.put(storage::database::commands, storage::command_key(c.vin, c.id),
            storage::encode_command(s));
  return writer_.submit(std::move(batch));
}

bool lmdb_store::erase_command(const std::string& vin, const std::string& id, completion done) {
  storage::write_batch batch{report(std::move(done), "deleting command '" + id + "'")};
  batch.erase(storage::database::commands, storage::command_key(vin, id));
  return writer_.submit(std::move(batch));
}

std::vector<std::pair<std::string, std::string>> lmdb_store::load_definitions() {
  std::vector<std::pair<std::string, std::string>> out;
  auto txn = begin_read("reading definitions");
  if (!txn) return out;
  auto scanned = txn->for_each(storage::database::definitions, "",
                               [&](std::string_view key, std::string_view value) {
                                 out.emplace_back(std::string{key}, std::string{value});
                               });
  if (!scanned) spdlog::error("storage: reading definitions: {}", scanned.error().what());
  return out;
}

bool lmdb_store::save_definition(const std::string& key, const std::string& json, completion done) {
  storage::write_batch batch{report(std::move(done), "storing definition '" + key + "'")};
  batch.put(storage::database::definitions, key, json);
  return writer_.submit(std::move(batch));
}

bool lmdb_store::erase_definition(const std::string& key, completion done) {
  storage::write_batch batch{report(std::move(done), "deleting definition '" + key + "'")};
  batch.erase(storage::database::definitions, key);
  return writer_.submit(std::move(batch));
}

bool lmdb_store::save_session(const session_record& s, completion done) {
  storage::write_batch batch{
      report(std::move(done), "storing the session of '" + s.params.client_id + "'")};
  batch.put(storage::database::sessions, storage::session_key(s.params.client_id),
            storage::encode_session(to_stored(s)));
  return writer_.submit(std::move(batch));
}

bool lmdb_store::erase_session(const std::string& client_id,
                               const std::vector<std::uint64_t>& stored_ids, completion done) {
  storage::write_batch batch{
      report(std::move(done), "deleting the session of '" + client_id + "'")};
  batch.erase(storage::database::sessions, storage::session_key(client_id));
  batch.erase_prefix(storage::database::queues, storage::queue_prefix(client_id));
  batch.erase_prefix(storage::database::inflight_in, storage::inflight_in_prefix(client_id));
  for (auto id : stored_ids)
    drop_reference(id, batch);
  // A refused deletion leaves records that the next start still finds; the
  // references it dropped are counted again from them then.
  return writer_.submit(std::move(batch));
}

bool lmdb_store::save_qos2_received(const std::string& client_id, std::uint16_t packet_id,
                                    completion done) {
  storage::write_batch batch{
      report(std::move(done),
             "storing QoS 2 packet id " + std::to_string(packet_id) + " of '" + client_id + "'")};
  batch.put(storage::database::inflight_in, storage::inflight_in_key(client_id, packet_id),
            storage::encode_inflight_in(storage::inflight_in_entry{now_ms()}));
  return writer_.submit(std::move(batch));
}

bool lmdb_store::erase_qos2_received(const std::string& client_id, std::uint16_t packet_id,
                                     completion done) {
  storage::write_batch batch{
      report(std::move(done),
             "releasing QoS 2 packet id " + std::to_string(packet_id) + " of '" + client_id + "'")};
  batch.erase(storage::database::inflight_in, storage::inflight_in_key(client_id, packet_id));
  return writer_.submit(std::move(batch));
}

bool lmdb_store::sync(completion done) {
  // An empty batch completes after the writes submitted before it.
  return writer_.submit(storage::write_batch{report(std::move(done), "a storage barrier")});
}

std::vector<session_record> lmdb_store::load_sessions() {
  std::vector<session_record> out;
  auto loaded = storage::load_all(
      env_, storage::database::sessions, [&](std::string_view, std::string_view v) {
        auto record = storage::decode_session(v);
        std::optional<session_record> r;
        if (record) r = from_stored(std::move(*record));
        if (!r) {
          spdlog::error("storage: skipping a damaged session record ({})",
                        record ? "bad will properties" : record.error().what());
          return;
        }
        out.push_back(std::move(*r));
      });
  if (!loaded) throw loaded.error();
  auto txn = storage::read_txn::begin(env_);
  if (!txn) throw txn.error();
  // Messages are read once however many queues refer to them.
  std::unordered_map<std::uint64_t, message_ref> messages;
  std::unordered_map<std::uint64_t, std::uint32_t> references;
  std::unordered_set<std::string> known_queues;
  storage::write_batch cleanup{[](std::optional<storage::storage_error> e) {
    if (e) spdlog::warn("storage: could not reclaim unreferenced records: {}", e->what());
  }};
  for (auto& r : out) {
    auto scanned = txn->for_each(storage::database::inflight_in,
                                 storage::inflight_in_prefix(r.params.client_id),
                                 [&](std::string_view key, std::string_view) {
                                   if (auto id = storage::inflight_in_packet_id_of(key))
                                     r.qos2_received.push_back(*id);
                                 });
    if (!scanned) throw scanned.error();
    std::string prefix = storage::queue_prefix(r.params.client_id);
    known_queues.insert(prefix);
    scanned = txn->for_each(
        storage::database::queues, prefix, [&](std::string_view key, std::string_view value) {
          auto entry = storage::decode_queue_entry(value);
          if (!entry) {
            spdlog::error("storage: dropping a damaged queue entry of '{}' ({})",
                          r.params.client_id, entry.error().what());
            cleanup.erase(storage::database::queues, std::string{key});
            return;
          }
          if (r.incarnation != 0 && entry->incarnation != r.incarnation) {
            // Left by an earlier session of this client id: a route that
            // reached its shard as that session ended.
            cleanup.erase(storage::database::queues, std::string{key});
            return;
          }
          auto found = messages.find(entry->message_id);
          if (found == messages.end()) {
            auto value =
                txn->get(storage::database::messages, storage::message_key(entry->message_id));
            if (!value) throw value.error();
            std::optional<message_ref> m;
            if (*value) {
              auto record = storage::decode_message(**value);
              if (record) m = from_stored(std::move(*record));
            }
            if (!m) {
              spdlog::error("storage: dropping a queue entry of '{}' whose message is {}",
                            r.params.client_id, *value ? "damaged" : "missing");
              cleanup.erase(storage::database::queues, std::string{key});
              return;
            }
            found = messages.emplace(entry->message_id, std::move(*m)).first;
          }
          ++references[entry->message_id];
          stored_delivery sd;
          sd.d = delivery{found->second, entry->qos, entry->retain,
                          std::move(entry->subscription_ids), entry->message_id};
          sd.packet_id = entry->packet_id;
          sd.stage = static_cast<outgoing_stage>(entry->state);
          r.outgoing.push_back(std::move(sd));
        });
    if (!scanned) throw scanned.error();
  }
  // Reclaim what nothing refers to: queues of sessions that are gone and
  // messages no queue holds (a deletion that never reached the disk).
  std::size_t reclaimed = 0;
  auto scanned =
      txn->for_each(storage::database::queues, {}, [&](std::string_view key, std::string_view) {
        if (key.size() < 8 || known_queues.count(std::string{key.substr(0, key.size() - 8)}) == 0) {
          cleanup.erase(storage::database::queues, std::string{key});
          ++reclaimed;
        }
      });
  if (!scanned) throw scanned.error();
  scanned =
      txn->for_each(storage::database::messages, {}, [&](std::string_view key, std::string_view) {
        auto id = storage::message_id_of(key);
        if (!id || references.count(*id) == 0) {
          cleanup.erase(storage::database::messages, std::string{key});
          ++reclaimed;
        }
      });
  if (!scanned) throw scanned.error();
  {
    std::lock_guard lock{references_mutex_};
    references_ = std::move(references);
  }
  if (reclaimed > 0) spdlog::info("storage: reclaimed {} unreferenced records", reclaimed);
  if (!cleanup.empty() && !writer_.submit(std::move(cleanup)))
    spdlog::warn("storage: unreferenced records left for the next start");
  return out;
}

}  // namespace convoy::runtime
