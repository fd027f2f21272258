#include "runtime/storage/stored_vehicle_state.hpp"

#include "runtime/storage/msgpack_record.hpp"

namespace convoy::storage {

namespace {

constexpr std::size_t state_fields = 4;
constexpr std::size_t field_fields = 3;

}  // namespace

std::string encode_vehicle_state(const stored_vehicle_state& s) {
  detail::record_writer w(stored_vehicle_state::format_version, state_fields);
  w.text(s.vin);
  w.signed_int(s.updated_at_ms);
  for (const auto* list : {&s.fields, &s.history}) {
    w.array(list->size());
    for (const auto& f : *list) {
      w.array(field_fields);
      w.text(f.name);
      w.text(f.value);
      w.signed_int(f.at_ms);
    }
  }
  return std::move(w).finish();
}

storage_result<stored_vehicle_state> decode_vehicle_state(std::string_view record) {
  storage_result<detail::parsed_record> parsed =
      detail::parsed_record::parse(record, "vehicle state", stored_vehicle_state::format_version,
                                   stored_vehicle_state::format_version);
  if (!parsed) return parsed.error();
  detail::decode_context context("vehicle state");
  detail::field_reader r(context, parsed->root(), "", state_fields);
  stored_vehicle_state s;
  s.vin = r.text("vin");
  s.updated_at_ms = r.signed_int("updated_at_ms");
  for (auto [name, list] : {std::pair{"fields", &s.fields}, {"history", &s.history}}) {
    r.list(name, field_fields, [&](detail::field_reader& f) {
      stored_state_field field;
      field.name = f.text("name");
      field.value = f.text("value");
      field.at_ms = f.signed_int("at_ms");
      list->push_back(std::move(field));
    });
  }
  if (context.failed()) return context.error();
  return s;
}

}  // namespace convoy::storage
