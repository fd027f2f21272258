#include "runtime/storage/stored_session.hpp"

#include <limits>

#include "runtime/storage/msgpack_record.hpp"

namespace convoy::storage {

namespace {

// Field counts of format version 3 (version 2: one session field fewer,
// version 1: two fewer).
constexpr std::size_t session_fields = 8;
constexpr std::size_t session_fields_v2 = 7;
constexpr std::size_t session_fields_v1 = 6;
constexpr std::size_t owner_fields = 2;
constexpr std::size_t subscription_fields = 6;
constexpr std::size_t will_fields = 6;

constexpr std::uint32_t max_subscription_id = mqtt::max_variable_int;

}  // namespace

std::string encode_session(const stored_session& s) {
  detail::record_writer w(stored_session::format_version, session_fields);
  w.text(s.client_id);
  w.unsigned_int(static_cast<std::uint8_t>(s.version));
  w.unsigned_int(s.session_expiry_interval);
  w.signed_int(s.disconnected_at_ms);
  w.array(s.subscriptions.size());
  for (const stored_subscription& sub : s.subscriptions) {
    w.array(subscription_fields);
    w.text(sub.filter);
    w.unsigned_int(static_cast<std::uint8_t>(sub.options.max_qos));
    w.boolean(sub.options.no_local);
    w.boolean(sub.options.retain_as_published);
    w.unsigned_int(static_cast<std::uint8_t>(sub.options.retain_handling));
    if (sub.subscription_id) {
      w.unsigned_int(*sub.subscription_id);
    } else {
      w.nil();
    }
  }
  if (s.will) {
    w.array(will_fields);
    w.text(s.will->topic);
    w.bytes(s.will->payload);
    w.unsigned_int(static_cast<std::uint8_t>(s.will->qos));
    w.boolean(s.will->retain);
    w.unsigned_int(s.will->delay_interval);
    w.bytes(s.will->properties);
  } else {
    w.nil();
  }
  w.unsigned_int(s.incarnation);
  if (s.owner) {
    w.array(owner_fields);
    w.text(s.owner->identity);
    w.unsigned_int(s.owner->method);
  } else {
    w.nil();
  }
  return std::move(w).finish();
}

storage_result<stored_session> decode_session(std::string_view record) {
  storage_result<detail::parsed_record> parsed = detail::parsed_record::parse(
      record, "session", stored_session::format_version, stored_session::oldest_format_version);
  if (!parsed) return parsed.error();
  detail::decode_context context("session");
  bool v1 = parsed->version() == 1;
  bool v2 = parsed->version() == 2;
  detail::field_reader r(context, parsed->root(), "",
                         v1 ? session_fields_v1 : (v2 ? session_fields_v2 : session_fields));

  stored_session s;
  s.client_id = r.text("client_id");
  s.version = static_cast<mqtt::protocol_version>(r.unsigned_int("protocol_version", 4, 5));
  s.session_expiry_interval = static_cast<std::uint32_t>(
      r.unsigned_int("session_expiry_interval", 0, std::numeric_limits<std::uint32_t>::max()));
  s.disconnected_at_ms = r.signed_int("disconnected_at_ms");
  r.list("subscriptions", subscription_fields, [&](detail::field_reader& f) {
    stored_subscription sub;
    sub.filter = f.text("filter");
    sub.options.max_qos = static_cast<mqtt::qos>(f.unsigned_int("qos", 0, 2));
    sub.options.no_local = f.boolean("no_local");
    sub.options.retain_as_published = f.boolean("retain_as_published");
    sub.options.retain_handling =
        static_cast<mqtt::retain_handling>(f.unsigned_int("retain_handling", 0, 2));
    if (!f.skip_nil()) {
      sub.subscription_id =
          static_cast<std::uint32_t>(f.unsigned_int("subscription_id", 1, max_subscription_id));
    }
    s.subscriptions.push_back(std::move(sub));
  });
  if (!r.skip_nil()) {
    detail::field_reader f = r.nested("will", will_fields);
    stored_will will;
    will.topic = f.text("topic");
    will.payload = f.bytes("payload");
    will.qos = static_cast<mqtt::qos>(f.unsigned_int("qos", 0, 2));
    will.retain = f.boolean("retain");
    will.delay_interval = static_cast<std::uint32_t>(
        f.unsigned_int("delay_interval", 0, std::numeric_limits<std::uint32_t>::max()));
    will.properties = f.bytes("properties");
    s.will = std::move(will);
  }
  if (!v1)
    s.incarnation = static_cast<std::uint32_t>(
        r.unsigned_int("incarnation", 0, std::numeric_limits<std::uint32_t>::max()));
  if (v1 || v2) {
    s.owner_known = false;
  } else if (!r.skip_nil()) {
    detail::field_reader f = r.nested("owner", owner_fields);
    stored_session::owner_identity owner;
    owner.identity = f.text("identity");
    owner.method = static_cast<std::uint8_t>(f.unsigned_int("method", 0, 3));
    s.owner = std::move(owner);
  }
  if (context.failed()) return context.error();
  return s;
}

}  // namespace convoy::storage
