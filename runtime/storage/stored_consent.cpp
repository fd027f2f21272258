#include "runtime/storage/stored_consent.hpp"

#include "runtime/storage/msgpack_record.hpp"

namespace convoy::storage {

namespace {

constexpr std::size_t consent_fields = 6;

}  // namespace

std::string encode_consent(const stored_consent& c) {
  detail::record_writer w(stored_consent::format_version, consent_fields);
  w.text(c.vin);
  w.text(c.subject);
  w.text(c.purpose);
  w.signed_int(c.granted_at_ms);
  w.signed_int(c.expires_at_ms);
  w.text(c.granted_by);
  return std::move(w).finish();
}

storage_result<stored_consent> decode_consent(std::string_view record) {
  storage_result<detail::parsed_record> parsed = detail::parsed_record::parse(
      record, "consent", stored_consent::format_version, stored_consent::format_version);
  if (!parsed) return parsed.error();
  detail::decode_context context("consent");
  detail::field_reader r(context, parsed->root(), "", consent_fields);
  stored_consent c;
  c.vin = r.text("vin");
  c.subject = r.text("subject");
  c.purpose = r.text("purpose");
  c.granted_at_ms = r.signed_int("granted_at_ms");
  c.expires_at_ms = r.signed_int("expires_at_ms");
  c.granted_by = r.text("granted_by");
  if (context.failed()) return context.error();
  return c;
}

std::string consent_prefix(std::string_view vin) {
  std::string key{vin};
  key += '\0';
  return key;
}

std::string consent_key(std::string_view vin, std::string_view subject, std::string_view purpose) {
  std::string key = consent_prefix(vin);
  key += subject;
  key += '\0';
  key += purpose;
  return key;
}

}  // namespace convoy::storage
