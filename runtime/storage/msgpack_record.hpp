#pragma once

// The on-disk form shared by every record codec: one format version byte,
// then one msgpack array holding the record's fields in a fixed order. Only
// the codecs' .cpp files include this header, which keeps msgpack (and the
// Boost headers it pulls in) out of everyone else's compile.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <msgpack.hpp>

#include "runtime/storage/storage_result.hpp"

namespace convoy::storage::detail {

// Builds one record.
class record_writer {
 public:
  record_writer(std::uint8_t format_version, std::size_t fields);
  record_writer(const record_writer&) = delete;
  record_writer& operator=(const record_writer&) = delete;

  void text(std::string_view s) { packer_.pack_str(size32(s)).pack_str_body(s.data(), size32(s)); }
  void bytes(std::string_view b) { packer_.pack_bin(size32(b)).pack_bin_body(b.data(), size32(b)); }
  void unsigned_int(std::uint64_t v) { packer_.pack_uint64(v); }
  void signed_int(std::int64_t v) { packer_.pack_int64(v); }
  void boolean(bool v) { v ? packer_.pack_true() : packer_.pack_false(); }
  void nil() { packer_.pack_nil(); }
  // Starts a nested array of n elements; the next n values fill it.
  void array(std::size_t n) { packer_.pack_array(static_cast<std::uint32_t>(n)); }

  std::string finish() && { return std::move(out_); }

 private:
  // msgpack's str and bin carry 32-bit lengths. Nothing the broker stores
  // comes near (MQTT caps a packet at 256 MiB), so a longer one is a bug.
  static std::uint32_t size32(std::string_view s);

  struct string_sink {
    std::string* out;
    void write(const char* data, std::size_t size) { out->append(data, size); }
  };
  std::string out_;
  string_sink sink_{&out_};
  msgpack::packer<string_sink> packer_{sink_};
};

// A parsed record: the msgpack objects and the memory they live in.
class parsed_record {
 public:
  // Checks the version byte and parses exactly one msgpack value filling
  // the rest of the record. Every length the value claims is bounded by the
  // record's own size, so a corrupt length cannot make the parser allocate
  // more than a small multiple of the record.
  // Versions from oldest_version (0: format_version only) up to
  // format_version are read; version() says which one the record has.
  static storage_result<parsed_record> parse(std::string_view record, std::string_view kind,
                                             std::uint8_t format_version,
                                             std::uint8_t oldest_version = 0);

  const msgpack::object& root() const { return handle_.get(); }
  std::uint8_t version() const { return version_; }

 private:
  parsed_record(msgpack::object_handle handle, std::uint8_t version)
      : handle_(std::move(handle)), version_(version) {}
  msgpack::object_handle handle_;
  std::uint8_t version_;
};

// The first thing wrong with a record being decoded. Field readers share
// one, so that decoding code reads straight through and checks once at the
// end; after a failure every read returns a default value.
class decode_context {
 public:
  explicit decode_context(std::string_view kind) : kind_(kind) {}
  // field is empty for a problem of the record as a whole.
  void fail(std::string_view field, std::string_view problem);
  bool failed() const noexcept { return problem_.has_value(); }
  // "corrupt session record: field 'will.qos': 3 is out of range 0..2"
  storage_error error() const;

 private:
  std::string_view kind_;
  std::optional<std::string> problem_;
};

// Reads the fields of one msgpack array in order, checking each one's type
// and range.
class field_reader {
 public:
  // path names the array in errors ("", "will", "subscriptions[2]").
  field_reader(decode_context& context, const msgpack::object& array, std::string path,
               std::size_t fields);

  std::string text(std::string_view name);
  std::string bytes(std::string_view name);
  std::uint64_t unsigned_int(std::string_view name, std::uint64_t min, std::uint64_t max);
  std::int64_t signed_int(std::string_view name);
  bool boolean(std::string_view name);
  // True, consuming the field, when the next field is nil.
  bool skip_nil();
  // The next field, a nested array of `fields` fields.
  field_reader nested(std::string_view name, std::size_t fields);
  // The next field, an array of any length whose elements are arrays of
  // `fields` fields each, visited in order.
  void list(std::string_view name, std::size_t fields,
            const std::function<void(field_reader&)>& each);

 private:
  const msgpack::object* next(std::string_view name, msgpack::type::object_type type,
                              std::string_view expected);
  std::string field_path(std::string_view name) const;

  decode_context* context_;
  std::string path_;
  const msgpack::object* items_ = nullptr;
  std::size_t size_ = 0;
  std::size_t index_ = 0;
};

}  // namespace convoy::storage::detail
