#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "protocol/types.hpp"

namespace convoy::mqtt {

// MQTT 5.0 property identifiers (spec 2.2.2.2).
enum class property_id : std::uint8_t {
  payload_format_indicator = 0x01,
  message_expiry_interval = 0x02,
  content_type = 0x03,
  response_topic = 0x08,
  correlation_data = 0x09,
  subscription_identifier = 0x0B,
  session_expiry_interval = 0x11,
  assigned_client_identifier = 0x12,
  server_keep_alive = 0x13,
  authentication_method = 0x15,
  authentication_data = 0x16,
  request_problem_information = 0x17,
  will_delay_interval = 0x18,
  request_response_information = 0x19,
  response_information = 0x1A,
  server_reference = 0x1C,
  reason_string = 0x1F,
  receive_maximum = 0x21,
  topic_alias_maximum = 0x22,
  topic_alias = 0x23,
  maximum_qos = 0x24,
  retain_available = 0x25,
  user_property = 0x26,
  maximum_packet_size = 0x27,
  wildcard_subscription_available = 0x28,
  subscription_identifier_available = 0x29,
  shared_subscription_available = 0x2A,
};

// How a property's value is laid out on the wire.
enum class property_type : std::uint8_t {
  byte,
  two_byte_int,
  four_byte_int,
  variable_int,
  utf8_string,
  binary,
  string_pair,
};

// Where a property may appear. The will properties of CONNECT are their own place.
enum class property_context : std::uint8_t {
  connect,
  connack,
  publish,
  will,
  puback,
  pubrec,
  pubrel,
  pubcomp,
  subscribe,
  suback,
  unsubscribe,
  unsuback,
  disconnect,
  auth,
};

struct property_info {
  property_type type;
  // Bit per property_context in which the property is allowed.
  std::uint16_t allowed;
  // User Property may repeat anywhere; Subscription Identifier repeats in PUBLISH only.
  bool repeatable;
  const char* name;
};

// Null for identifiers MQTT 5.0 does not define.
const property_info* find_property_info(std::uint8_t id);

bool allowed_in(property_id id, property_context ctx);
bool repeatable_in(property_id id, property_context ctx);

struct string_pair {
  std::string name;
  std::string value;
  friend bool operator==(const string_pair&, const string_pair&) = default;
};

// Integers of every width are held as uint32; UTF-8 strings and binary data as std::string.
using property_value = std::variant<std::uint32_t, std::string, string_pair>;

struct property {
  property_id id;
  property_value value;
  friend bool operator==(const property&, const property&) = default;
};

// An ordered property list as it appears on the wire. Packets carry few
// properties, so a flat vector beats any map in size and speed.
class properties {
 public:
  properties() = default;
  properties(std::initializer_list<property> items) : items_(items) {}

  bool empty() const { return items_.empty(); }
  std::size_t size() const { return items_.size(); }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }
  const std::vector<property>& items() const { return items_; }

  bool contains(property_id id) const;
  std::optional<std::uint32_t> number(property_id id) const;
  const std::string* string(property_id id) const;
  std::vector<string_pair> user_properties() const;
  std::vector<std::uint32_t> numbers(property_id id) const;

  void append(property p) { items_.push_back(std::move(p)); }
  void add(property_id id, std::uint32_t value) { items_.push_back({id, value}); }
  void add(property_id id, std::string value) { items_.push_back({id, std::move(value)}); }
  void add_user_property(std::string name, std::string value);
  // Replaces every occurrence of id with one value.
  void set(property_id id, property_value value);
  void remove(property_id id);

  friend bool operator==(const properties&, const properties&) = default;

 private:
  std::vector<property> items_;
};

}  // namespace convoy::mqtt
