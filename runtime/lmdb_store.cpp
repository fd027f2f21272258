#include "runtime/lmdb_store.hpp"

#include <spdlog/spdlog.h>

#include "protocol/decoder.hpp"
#include "protocol/encoder.hpp"
#include "runtime/storage/read_txn.hpp"
#include "runtime/storage/record_keys.hpp"
#include "runtime/storage/stored_message.hpp"

namespace convoy::runtime {

namespace {

storage::stored_message to_stored(const app_message& m) {
  storage::stored_message s;
  s.topic = m.topic;
  if (m.payload) s.payload = *m.payload;
  s.qos = m.qos;
  s.retain = m.retain;
  mqtt::byte_buffer props;
  mqtt::encode_property_block(m.props, props);
  s.properties.assign(props.begin(), props.end());
  s.expires_at_ms = m.expires_at;
  s.received_at_ms = now_ms();
  return s;
}

// Nullopt when the stored properties do not decode: the record is damaged.
std::optional<message_ref> from_stored(storage::stored_message&& s) {
  mqtt::byte_view block{reinterpret_cast<const std::uint8_t*>(s.properties.data()),
                        s.properties.size()};
  auto props = mqtt::decode_property_block(block, mqtt::property_context::publish);
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

storage::write_completion report(durable_store::completion done, std::string what) {
  return [done = std::move(done), what = std::move(what)](std::optional<storage::storage_error> e) {
    if (e) spdlog::error("storage: {} failed: {}", what, e->what());
    done(!e);
  };
}

}  // namespace

lmdb_store::lmdb_store(const storage::storage_options& options)
    : env_(options.data_dir, options.env), writer_(env_, options.commit) {}

lmdb_store::~lmdb_store() {
  writer_.stop();
}

bool lmdb_store::save_retained(const app_message& m, completion done) {
  storage::write_batch batch{
      report(std::move(done), "storing the retained message of '" + m.topic + "'")};
  if (!m.payload || m.payload->empty())
    batch.erase(storage::database::retained, storage::retained_key(m.topic));
  else
    batch.put(storage::database::retained, storage::retained_key(m.topic),
              storage::encode_message(to_stored(m)));
  return writer_.submit(std::move(batch));
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

}  // namespace convoy::runtime
