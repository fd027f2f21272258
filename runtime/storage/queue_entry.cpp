#include "runtime/storage/queue_entry.hpp"

#include <limits>

#include "runtime/storage/msgpack_record.hpp"

namespace convoy::storage {

namespace {

constexpr std::size_t queue_entry_fields = 7;  // format version 1
constexpr std::uint32_t max_subscription_id = mqtt::max_variable_int;

}  // namespace

std::string encode_queue_entry(const queue_entry& e) {
  detail::record_writer w(queue_entry::format_version, queue_entry_fields);
  w.unsigned_int(e.message_id);
  w.unsigned_int(static_cast<std::uint8_t>(e.qos));
  w.unsigned_int(e.packet_id);
  w.unsigned_int(static_cast<std::uint8_t>(e.state));
  w.boolean(e.retain);
  w.array(e.subscription_ids.size());
  for (auto id : e.subscription_ids) {
    w.array(1);
    w.unsigned_int(id);
  }
  w.unsigned_int(e.incarnation);
  return std::move(w).finish();
}

storage_result<queue_entry> decode_queue_entry(std::string_view record) {
  storage_result<detail::parsed_record> parsed =
      detail::parsed_record::parse(record, "queue entry", queue_entry::format_version);
  if (!parsed) return parsed.error();
  detail::decode_context context("queue entry");
  detail::field_reader r(context, parsed->root(), "", queue_entry_fields);

  queue_entry e;
  e.message_id = r.unsigned_int("message_id", 0, std::numeric_limits<std::uint64_t>::max());
  e.qos = static_cast<mqtt::qos>(r.unsigned_int("qos", 0, 2));
  e.packet_id = static_cast<std::uint16_t>(
      r.unsigned_int("packet_id", 0, std::numeric_limits<std::uint16_t>::max()));
  e.state = static_cast<delivery_state>(r.unsigned_int("state", 0, 2));
  e.retain = r.boolean("retain");
  r.list("subscription_ids", 1, [&](detail::field_reader& f) {
    e.subscription_ids.push_back(
        static_cast<std::uint32_t>(f.unsigned_int("id", 1, max_subscription_id)));
  });
  e.incarnation = static_cast<std::uint32_t>(
      r.unsigned_int("incarnation", 0, std::numeric_limits<std::uint32_t>::max()));
  if (context.failed()) return context.error();
  return e;
}

}  // namespace convoy::storage
