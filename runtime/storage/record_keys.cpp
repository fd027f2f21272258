#include "runtime/storage/record_keys.hpp"

#include <openssl/evp.h>
#include <cassert>

namespace convoy::storage {

namespace {

void append_big_endian(std::string& out, std::uint64_t value, int bytes) {
  for (int i = bytes - 1; i >= 0; --i)
    out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

std::uint64_t read_big_endian(std::string_view bytes) {
  std::uint64_t value = 0;
  for (char c : bytes)
    value = (value << 8) | static_cast<unsigned char>(c);
  return value;
}

std::string client_prefix(std::string_view client_id) {
  std::string key = name_key(client_id);
  static_assert(long_name_threshold + sha256_size <= 255, "the length must fit one byte");
  key.insert(key.begin(), static_cast<char>(key.size()));
  return key;
}

// The suffix of a key made of client_prefix and a big-endian number of
// `width` bytes, or an error naming the database when key is not one.
storage_result<std::uint64_t> suffix_of(std::string_view key, std::size_t width,
                                        std::string_view db) {
  if (!key.empty()) {
    const auto name_size = static_cast<unsigned char>(key.front());
    if (key.size() == 1 + name_size + width) {
      return read_big_endian(key.substr(1 + name_size));
    }
  }
  return storage_error(storage_errc::bad_record, "malformed key of " + std::to_string(key.size()) +
                                                     " bytes in database '" + std::string(db) +
                                                     "'");
}

}  // namespace

std::string name_key(std::string_view name) {
  if (name.size() <= long_name_threshold) return std::string(name);
  std::string key(name.substr(0, long_name_threshold));
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  [[maybe_unused]] int ok =
      EVP_Digest(name.data(), name.size(), digest, &digest_size, EVP_sha256(), nullptr);
  // Only fails without memory or with a FIPS provider that bans SHA-256.
  assert(ok == 1 && digest_size == sha256_size);
  key.append(reinterpret_cast<const char*>(digest), sha256_size);
  return key;
}

std::string session_key(std::string_view client_id) {
  return name_key(client_id);
}

std::string message_key(std::uint64_t message_id) {
  std::string key;
  append_big_endian(key, message_id, 8);
  return key;
}

storage_result<std::uint64_t> message_id_of(std::string_view key) {
  if (key.size() != 8) {
    return storage_error(
        storage_errc::bad_record,
        "malformed key of " + std::to_string(key.size()) + " bytes in database 'messages'");
  }
  return read_big_endian(key);
}

std::string queue_key(std::string_view client_id, std::uint64_t sequence) {
  std::string key = client_prefix(client_id);
  append_big_endian(key, sequence, 8);
  return key;
}

std::string queue_prefix(std::string_view client_id) {
  return client_prefix(client_id);
}

storage_result<std::uint64_t> queue_sequence_of(std::string_view key) {
  return suffix_of(key, 8, "queues");
}

std::string inflight_in_key(std::string_view client_id, std::uint16_t packet_id) {
  std::string key = client_prefix(client_id);
  append_big_endian(key, packet_id, 2);
  return key;
}

std::string inflight_in_prefix(std::string_view client_id) {
  return client_prefix(client_id);
}

storage_result<std::uint16_t> inflight_in_packet_id_of(std::string_view key) {
  storage_result<std::uint64_t> id = suffix_of(key, 2, "inflight_in");
  if (!id) return id.error();
  return static_cast<std::uint16_t>(*id);
}

std::string retained_key(std::string_view topic) {
  return name_key(topic);
}

}  // namespace convoy::storage
