#include "protocol/properties.hpp"

#include <algorithm>
#include <array>

namespace convoy::mqtt {

namespace {

constexpr std::uint16_t bit(property_context ctx) {
  return static_cast<std::uint16_t>(1u << static_cast<unsigned>(ctx));
}

using pc = property_context;
using pt = property_type;

constexpr std::uint16_t message_props = bit(pc::publish) | bit(pc::will);
constexpr std::uint16_t every_ack = bit(pc::connack) | bit(pc::puback) | bit(pc::pubrec) |
                                    bit(pc::pubrel) | bit(pc::pubcomp) | bit(pc::suback) |
                                    bit(pc::unsuback) | bit(pc::disconnect) | bit(pc::auth);
constexpr std::uint16_t everywhere = 0x3FFF;

constexpr std::array<property_info, 0x2B> make_table() {
  std::array<property_info, 0x2B> t{};
  for (auto& e : t)
    e = {pt::byte, 0, false, nullptr};
  t[0x01] = {pt::byte, message_props, false, "Payload Format Indicator"};
  t[0x02] = {pt::four_byte_int, message_props, false, "Message Expiry Interval"};
  t[0x03] = {pt::utf8_string, message_props, false, "Content Type"};
  t[0x08] = {pt::utf8_string, message_props, false, "Response Topic"};
  t[0x09] = {pt::binary, message_props, false, "Correlation Data"};
  t[0x0B] = {pt::variable_int, bit(pc::publish) | bit(pc::subscribe), true,
             "Subscription Identifier"};
  t[0x11] = {pt::four_byte_int, bit(pc::connect) | bit(pc::connack) | bit(pc::disconnect), false,
             "Session Expiry Interval"};
  t[0x12] = {pt::utf8_string, bit(pc::connack), false, "Assigned Client Identifier"};
  t[0x13] = {pt::two_byte_int, bit(pc::connack), false, "Server Keep Alive"};
  t[0x15] = {pt::utf8_string, bit(pc::connect) | bit(pc::connack) | bit(pc::auth), false,
             "Authentication Method"};
  t[0x16] = {pt::binary, bit(pc::connect) | bit(pc::connack) | bit(pc::auth), false,
             "Authentication Data"};
  t[0x17] = {pt::byte, bit(pc::connect), false, "Request Problem Information"};
  t[0x18] = {pt::four_byte_int, bit(pc::will), false, "Will Delay Interval"};
  t[0x19] = {pt::byte, bit(pc::connect), false, "Request Response Information"};
  t[0x1A] = {pt::utf8_string, bit(pc::connack), false, "Response Information"};
  t[0x1C] = {pt::utf8_string, bit(pc::connack) | bit(pc::disconnect), false, "Server Reference"};
  t[0x1F] = {pt::utf8_string, every_ack, false, "Reason String"};
  t[0x21] = {pt::two_byte_int, bit(pc::connect) | bit(pc::connack), false, "Receive Maximum"};
  t[0x22] = {pt::two_byte_int, bit(pc::connect) | bit(pc::connack), false, "Topic Alias Maximum"};
  t[0x23] = {pt::two_byte_int, bit(pc::publish), false, "Topic Alias"};
  t[0x24] = {pt::byte, bit(pc::connack), false, "Maximum QoS"};
  t[0x25] = {pt::byte, bit(pc::connack), false, "Retain Available"};
  t[0x26] = {pt::string_pair, everywhere, true, "User Property"};
  t[0x27] = {pt::four_byte_int, bit(pc::connect) | bit(pc::connack), false, "Maximum Packet Size"};
  t[0x28] = {pt::byte, bit(pc::connack), false, "Wildcard Subscription Available"};
  t[0x29] = {pt::byte, bit(pc::connack), false, "Subscription Identifier Available"};
  t[0x2A] = {pt::byte, bit(pc::connack), false, "Shared Subscription Available"};
  return t;
}

constexpr auto property_table = make_table();

}  // namespace

const property_info* find_property_info(std::uint8_t id) {
  if (id >= property_table.size() || property_table[id].name == nullptr) return nullptr;
  return &property_table[id];
}

bool allowed_in(property_id id, property_context ctx) {
  const auto* info = find_property_info(static_cast<std::uint8_t>(id));
  return info != nullptr && (info->allowed & bit(ctx)) != 0;
}

bool repeatable_in(property_id id, property_context ctx) {
  if (id == property_id::user_property) return true;
  // A SUBSCRIBE carries at most one Subscription Identifier; a PUBLISH to a
  // client carries one per matching subscription.
  return id == property_id::subscription_identifier && ctx == property_context::publish;
}

bool properties::contains(property_id id) const {
  return std::any_of(items_.begin(), items_.end(), [id](const property& p) { return p.id == id; });
}

std::optional<std::uint32_t> properties::number(property_id id) const {
  for (const auto& p : items_)
    if (p.id == id)
      if (const auto* v = std::get_if<std::uint32_t>(&p.value)) return *v;
  return std::nullopt;
}

const std::string* properties::string(property_id id) const {
  for (const auto& p : items_)
    if (p.id == id)
      if (const auto* v = std::get_if<std::string>(&p.value)) return v;
  return nullptr;
}

std::vector<string_pair> properties::user_properties() const {
  std::vector<string_pair> result;
  for (const auto& p : items_)
    if (p.id == property_id::user_property) result.push_back(std::get<string_pair>(p.value));
  return result;
}

std::vector<std::uint32_t> properties::numbers(property_id id) const {
  std::vector<std::uint32_t> result;
  for (const auto& p : items_)
    if (p.id == id)
      if (const auto* v = std::get_if<std::uint32_t>(&p.value)) result.push_back(*v);
  return result;
}

void properties::add_user_property(std::string name, std::string value) {
  items_.push_back({property_id::user_property, string_pair{std::move(name), std::move(value)}});
}

void properties::set(property_id id, property_value value) {
  remove(id);
  items_.push_back({id, std::move(value)});
}

void properties::remove(property_id id) {
  std::erase_if(items_, [id](const property& p) { return p.id == id; });
}

}  // namespace convoy::mqtt
