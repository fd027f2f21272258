#include "runtime/storage/stored_message.hpp"

#include "runtime/storage/msgpack_record.hpp"

namespace convoy::storage {

namespace {

constexpr std::size_t message_fields = 7;  // format version 1

}  // namespace

std::string encode_message(const stored_message& m) {
  detail::record_writer w(stored_message::format_version, message_fields);
  w.text(m.topic);
  w.bytes(m.payload);
  w.unsigned_int(static_cast<std::uint8_t>(m.qos));
  w.boolean(m.retain);
  w.bytes(m.properties);
  w.signed_int(m.expires_at_ms);
  w.signed_int(m.received_at_ms);
  return std::move(w).finish();
}

storage_result<stored_message> decode_message(std::string_view record) {
  storage_result<detail::parsed_record> parsed =
      detail::parsed_record::parse(record, "message", stored_message::format_version);
  if (!parsed) return parsed.error();
  detail::decode_context context("message");
  detail::field_reader r(context, parsed->root(), "", message_fields);

  stored_message m;
  m.topic = r.text("topic");
  m.payload = r.bytes("payload");
  m.qos = static_cast<mqtt::qos>(r.unsigned_int("qos", 0, 2));
  m.retain = r.boolean("retain");
  m.properties = r.bytes("properties");
  m.expires_at_ms = r.signed_int("expires_at_ms");
  m.received_at_ms = r.signed_int("received_at_ms");
  if (context.failed()) return context.error();
  return m;
}

}  // namespace convoy::storage
