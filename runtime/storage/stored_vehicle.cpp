#include "runtime/storage/stored_vehicle.hpp"

#include "runtime/storage/msgpack_record.hpp"

namespace convoy::storage {

namespace {

constexpr std::size_t vehicle_fields = 7;
constexpr std::size_t device_fields = 4;
// Highest status values the registry defines (active, suspended; active,
// replaced, suspended, revoked).
constexpr std::uint64_t max_vehicle_status = 1;
constexpr std::uint64_t max_device_status = 3;

}  // namespace

std::string encode_vehicle(const stored_vehicle& v) {
  detail::record_writer w(stored_vehicle::format_version, vehicle_fields);
  w.text(v.vin);
  w.text(v.model);
  w.text(v.region);
  w.unsigned_int(v.status);
  w.signed_int(v.created_at_ms);
  w.signed_int(v.updated_at_ms);
  w.array(v.devices.size());
  for (const stored_device& d : v.devices) {
    w.array(device_fields);
    w.text(d.device_id);
    w.text(d.fingerprint);
    w.unsigned_int(d.status);
    w.signed_int(d.added_at_ms);
  }
  return std::move(w).finish();
}

storage_result<stored_vehicle> decode_vehicle(std::string_view record) {
  storage_result<detail::parsed_record> parsed = detail::parsed_record::parse(
      record, "vehicle", stored_vehicle::format_version, stored_vehicle::format_version);
  if (!parsed) return parsed.error();
  detail::decode_context context("vehicle");
  detail::field_reader r(context, parsed->root(), "", vehicle_fields);
  stored_vehicle v;
  v.vin = r.text("vin");
  v.model = r.text("model");
  v.region = r.text("region");
  v.status = static_cast<std::uint8_t>(r.unsigned_int("status", 0, max_vehicle_status));
  v.created_at_ms = r.signed_int("created_at_ms");
  v.updated_at_ms = r.signed_int("updated_at_ms");
  r.list("devices", device_fields, [&](detail::field_reader& f) {
    stored_device d;
    d.device_id = f.text("device_id");
    d.fingerprint = f.text("fingerprint");
    d.status = static_cast<std::uint8_t>(f.unsigned_int("status", 0, max_device_status));
    d.added_at_ms = f.signed_int("added_at_ms");
    v.devices.push_back(std::move(d));
  });
  if (context.failed()) return context.error();
  return v;
}

}  // namespace convoy::storage
