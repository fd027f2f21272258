#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

// etcd's v3 JSON gateway (grpc-gateway) as requests and replies: keys and
// values travel base64-encoded, 64-bit integers as decimal strings, fields
// at their zero value are left out. Pure: no I/O.
namespace convoy::cluster::etcd {

// A reply the gateway sent that is not what the call expects: an error
// object ({"error", "code"}), or JSON of another shape.
class reply_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The range_end that makes a range or watch cover every key starting with
// `prefix`: the prefix with its last byte below 0xff incremented and the
// bytes after it dropped ("\0" when the prefix is all 0xff bytes).
std::string prefix_end(std::string_view prefix);

struct key_value {
  std::string key;
  std::string value;
  std::int64_t create_revision = 0;
  std::int64_t mod_revision = 0;
  std::int64_t lease = 0;
};

// Request bodies.
std::string grant_request(std::chrono::seconds ttl);
std::string keepalive_request(std::int64_t lease);
std::string revoke_request(std::int64_t lease);
// Puts key = value under the lease only if the key does not exist; reads
// the key otherwise.
std::string create_request(std::string_view key, std::string_view value, std::int64_t lease);
// Deletes key only if it was created at create_revision (it is still the
// same key, not one made again since).
std::string delete_created_request(std::string_view key, std::int64_t create_revision);
std::string range_prefix_request(std::string_view prefix);
// Watches every key of the prefix from start_revision on, deletions with
// the deleted key's previous value.
std::string watch_prefix_request(std::string_view prefix, std::int64_t start_revision);

// Replies. Each throws reply_error for an error object or a reply of
// another shape.
struct lease_grant {
  std::int64_t id = 0;
  std::int64_t ttl = 0;
};
lease_grant parse_grant(std::string_view body);

// The TTL left after the renewal; 0 when etcd no longer has the lease
// (it expired or was revoked).
std::int64_t parse_keepalive(std::string_view body);

struct create_reply {
  bool created = false;
  std::int64_t revision = 0;          // of the put when created; the store's otherwise
  std::optional<key_value> existing;  // the key's holder when not created
};
create_reply parse_create(std::string_view body);

// Whether a transaction's comparison held (its success branch ran).
bool parse_succeeded(std::string_view body);

struct range_reply {
  std::int64_t revision = 0;  // the store's revision the range was read at
  std::vector<key_value> kvs;
};
range_reply parse_range(std::string_view body);

// One message of a watch stream.
struct watch_message {
  struct event {
    bool deleted = false;
    key_value kv;  // for a deletion: the key, and its mod_revision is the deletion's
  };
  bool created = false;
  bool canceled = false;
  std::string cancel_reason;
  std::int64_t compact_revision = 0;  // > 0: the start revision was compacted away
  std::int64_t revision = 0;
  std::vector<event> events;
};
watch_message parse_watch(std::string_view line);

}  // namespace convoy::cluster::etcd
