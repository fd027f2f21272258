#include "runtime/storage/msgpack_record.hpp"

#include <cassert>
#include <exception>
#include <limits>

namespace convoy::storage::detail {

namespace {

// Records nest at most three arrays deep (session, subscription list,
// subscription); anything deeper is not one of ours.
constexpr std::size_t max_nesting = 4;

std::string_view type_name(msgpack::type::object_type type) {
  switch (type) {
    case msgpack::type::NIL:
      return "nil";
    case msgpack::type::BOOLEAN:
      return "a boolean";
    case msgpack::type::POSITIVE_INTEGER:
      return "an unsigned integer";
    case msgpack::type::NEGATIVE_INTEGER:
      return "a negative integer";
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      return "a float";
    case msgpack::type::STR:
      return "a string";
    case msgpack::type::BIN:
      return "binary";
    case msgpack::type::ARRAY:
      return "an array";
    case msgpack::type::MAP:
      return "a map";
    case msgpack::type::EXT:
      return "an extension";
  }
  return "an unknown type";
}

}  // namespace

record_writer::record_writer(std::uint8_t format_version, std::size_t fields) {
  out_.push_back(static_cast<char>(format_version));
  array(fields);
}

std::uint32_t record_writer::size32(std::string_view s) {
  assert(s.size() <= std::numeric_limits<std::uint32_t>::max());
  return static_cast<std::uint32_t>(s.size());
}

storage_result<parsed_record> parsed_record::parse(std::string_view record, std::string_view kind,
                                                   std::uint8_t format_version,
                                                   std::uint8_t oldest_version) {
  const auto bad = [&](const std::string& problem) {
    return storage_error(storage_errc::bad_record,
                         "corrupt " + std::string(kind) + " record: " + problem);
  };
  if (record.empty()) return bad("empty");
  const auto version = static_cast<std::uint8_t>(record.front());
  if (oldest_version == 0) oldest_version = format_version;
  if (version < oldest_version || version > format_version) {
    std::string readable = oldest_version == format_version
                               ? "version " + std::to_string(format_version)
                               : "versions " + std::to_string(oldest_version) + " to " +
                                     std::to_string(format_version);
    return storage_error(storage_errc::bad_record,
                         std::string(kind) + " record has format version " +
                             std::to_string(version) + "; this build reads " + readable);
  }
  const std::string_view body = record.substr(1);
  // Each element of an array or map takes at least one byte, so no count
  // in a well-formed record exceeds its size; msgpack would otherwise
  // allocate whatever a corrupt count says before noticing the bytes are
  // missing.
  const std::size_t n = body.size();
  const msgpack::unpack_limit limit(n, n, n, n, n, max_nesting);
  std::size_t offset = 0;
  try {
    msgpack::object_handle handle =
        msgpack::unpack(body.data(), body.size(), offset, nullptr, nullptr, limit);
    if (offset != body.size()) {
      return bad(std::to_string(body.size() - offset) + " bytes after the end of the record");
    }
    return parsed_record(std::move(handle), version);
  } catch (const std::exception& e) {
    // msgpack reports truncated input, bad type bytes and exceeded limits
    // by throwing; stored bytes are input like any other, so they end here.
    return bad(std::string("not valid msgpack (") + e.what() + ")");
  }
}

void decode_context::fail(std::string_view field, std::string_view problem) {
  if (problem_) return;
  problem_ = field.empty() ? std::string(problem)
                           : "field '" + std::string(field) + "': " + std::string(problem);
}

storage_error decode_context::error() const {
  assert(problem_);
  return storage_error(storage_errc::bad_record,
                       "corrupt " + std::string(kind_) + " record: " + *problem_);
}

field_reader::field_reader(decode_context& context, const msgpack::object& array, std::string path,
                           std::size_t fields)
    : context_(&context), path_(std::move(path)) {
  if (array.type != msgpack::type::ARRAY) {
    context.fail(path_, "expected an array of " + std::to_string(fields) + " fields, found " +
                            std::string(type_name(array.type)));
    return;
  }
  if (array.via.array.size != fields) {
    context.fail(path_, "expected " + std::to_string(fields) + " fields, found " +
                            std::to_string(array.via.array.size));
    return;
  }
  items_ = array.via.array.ptr;
  size_ = array.via.array.size;
}

std::string field_reader::field_path(std::string_view name) const {
  return path_.empty() ? std::string(name) : path_ + "." + std::string(name);
}

const msgpack::object* field_reader::next(std::string_view name, msgpack::type::object_type type,
                                          std::string_view expected) {
  if (context_->failed()) return nullptr;
  // A codec reading more fields than it declared is a bug, not bad data.
  assert(index_ < size_);
  const msgpack::object& o = items_[index_++];
  // msgpack writes non-negative values of signed fields as positive integers.
  const bool matches = o.type == type || (type == msgpack::type::NEGATIVE_INTEGER &&
                                          o.type == msgpack::type::POSITIVE_INTEGER);
  if (!matches) {
    context_->fail(field_path(name), "expected " + std::string(expected) + ", found " +
                                         std::string(type_name(o.type)));
    return nullptr;
  }
  return &o;
}

std::string field_reader::text(std::string_view name) {
  const msgpack::object* o = next(name, msgpack::type::STR, "a string");
  return o == nullptr ? std::string() : std::string(o->via.str.ptr, o->via.str.size);
}

std::string field_reader::bytes(std::string_view name) {
  const msgpack::object* o = next(name, msgpack::type::BIN, "binary");
  return o == nullptr ? std::string() : std::string(o->via.bin.ptr, o->via.bin.size);
}

std::uint64_t field_reader::unsigned_int(std::string_view name, std::uint64_t min,
                                         std::uint64_t max) {
  const msgpack::object* o = next(name, msgpack::type::POSITIVE_INTEGER, "an unsigned integer");
  if (o == nullptr) return min;
  if (o->via.u64 < min || o->via.u64 > max) {
    context_->fail(field_path(name), std::to_string(o->via.u64) + " is out of range " +
                                         std::to_string(min) + ".." + std::to_string(max));
    return min;
  }
  return o->via.u64;
}

std::int64_t field_reader::signed_int(std::string_view name) {
  const msgpack::object* o = next(name, msgpack::type::NEGATIVE_INTEGER, "an integer");
  if (o == nullptr) return 0;
  if (o->type == msgpack::type::NEGATIVE_INTEGER) return o->via.i64;
  if (o->via.u64 > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    context_->fail(field_path(name), std::to_string(o->via.u64) + " does not fit a signed integer");
    return 0;
  }
  return static_cast<std::int64_t>(o->via.u64);
}

bool field_reader::boolean(std::string_view name) {
  const msgpack::object* o = next(name, msgpack::type::BOOLEAN, "a boolean");
  return o != nullptr && o->via.boolean;
}

bool field_reader::skip_nil() {
  if (context_->failed() || index_ >= size_ || items_[index_].type != msgpack::type::NIL) {
    return false;
  }
  ++index_;
  return true;
}

field_reader field_reader::nested(std::string_view name, std::size_t fields) {
  // After a failure the nested reader reads nil, which keeps it failed
  // (the first problem stays the one reported).
  static const msgpack::object nil;
  const msgpack::object* o = next(name, msgpack::type::ARRAY, "an array");
  return field_reader(*context_, o == nullptr ? nil : *o, field_path(name), fields);
}

void field_reader::list(std::string_view name, std::size_t fields,
                        const std::function<void(field_reader&)>& each) {
  const msgpack::object* o = next(name, msgpack::type::ARRAY, "an array");
  if (o == nullptr) return;
  for (std::uint32_t i = 0; i < o->via.array.size && !context_->failed(); ++i) {
    field_reader element(*context_, o->via.array.ptr[i],
                         field_path(name) + "[" + std::to_string(i) + "]", fields);
    each(element);
  }
}

}  // namespace convoy::storage::detail
