#include "runtime/storage/inflight_in_entry.hpp"

#include "runtime/storage/msgpack_record.hpp"

namespace convoy::storage {

namespace {

constexpr std::size_t inflight_in_fields = 1;  // format version 1

}  // namespace

std::string encode_inflight_in(const inflight_in_entry& e) {
  detail::record_writer w(inflight_in_entry::format_version, inflight_in_fields);
  w.signed_int(e.received_at_ms);
  return std::move(w).finish();
}

storage_result<inflight_in_entry> decode_inflight_in(std::string_view record) {
  storage_result<detail::parsed_record> parsed =
      detail::parsed_record::parse(record, "inflight_in", inflight_in_entry::format_version);
  if (!parsed) return parsed.error();
  detail::decode_context context("inflight_in");
  detail::field_reader r(context, parsed->root(), "", inflight_in_fields);

  inflight_in_entry e;
  e.received_at_ms = r.signed_int("received_at_ms");
  if (context.failed()) return context.error();
  return e;
}

}  // namespace convoy::storage
