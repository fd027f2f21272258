#include "runtime/storage/stored_command.hpp"

#include "runtime/storage/msgpack_record.hpp"

namespace convoy::storage {

namespace {

constexpr std::size_t command_fields = 13;
constexpr std::size_t event_fields = 3;
// The highest status a stored command may have (command_status::cancelled).
constexpr std::uint64_t last_status = 11;

}  // namespace

std::string encode_command(const stored_command& c) {
  detail::record_writer w(stored_command::format_version, command_fields);
  w.text(c.id);
  w.text(c.vin);
  w.text(c.name);
  w.text(c.params);
  w.text(c.requested_by);
  w.text(c.idempotency_key);
  w.signed_int(c.created_at_ms);
  w.unsigned_int(c.timeout_ms);
  w.unsigned_int(c.ttl_ms);
  w.signed_int(c.sent_at_ms);
  w.unsigned_int(c.status);
  w.text(c.result);
  w.array(c.timeline.size());
  for (const auto& e : c.timeline) {
    w.array(event_fields);
    w.signed_int(e.at_ms);
    w.unsigned_int(e.status);
    w.text(e.detail);
  }
  return std::move(w).finish();
}

storage_result<stored_command> decode_command(std::string_view record) {
  storage_result<detail::parsed_record> parsed = detail::parsed_record::parse(
      record, "command", stored_command::format_version, stored_command::format_version);
  if (!parsed) return parsed.error();
  detail::decode_context context("command");
  detail::field_reader r(context, parsed->root(), "", command_fields);
  stored_command c;
  c.id = r.text("id");
  c.vin = r.text("vin");
  c.name = r.text("name");
  c.params = r.text("params");
  c.requested_by = r.text("requested_by");
  c.idempotency_key = r.text("idempotency_key");
  c.created_at_ms = r.signed_int("created_at_ms");
  c.timeout_ms = static_cast<std::uint32_t>(r.unsigned_int("timeout_ms", 0, 0xFFFFFFFFu));
  c.ttl_ms = static_cast<std::uint32_t>(r.unsigned_int("ttl_ms", 0, 0xFFFFFFFFu));
  c.sent_at_ms = r.signed_int("sent_at_ms");
  c.status = static_cast<std::uint8_t>(r.unsigned_int("status", 0, last_status));
  c.result = r.text("result");
  r.list("timeline", event_fields, [&](detail::field_reader& f) {
    stored_command_event e;
    e.at_ms = f.signed_int("at_ms");
    e.status = static_cast<std::uint8_t>(f.unsigned_int("status", 0, last_status));
    e.detail = f.text("detail");
    c.timeline.push_back(std::move(e));
  });
  if (context.failed()) return context.error();
  return c;
}

std::string command_prefix(std::string_view vin) {
  std::string key{vin};
  key += '\0';
  return key;
}

std::string command_key(std::string_view vin, std::string_view id) {
  return command_prefix(vin) + std::string{id};
}

}  // namespace convoy::storage
