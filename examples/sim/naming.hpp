#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace convoy::sim {

// VIN-like client id of vehicle `index`: the prefix, then the index in the
// VIN alphabet (digits and capitals without I, O and Q), zero-padded to 17
// characters: "CNV00000000000001". At least six index characters follow the
// prefix, so prefixes up to 11 characters keep ids unique.
std::string vehicle_id(std::string_view prefix, std::uint32_t index);

// Subscriber client ids carry "-S", which no VIN has: "CNV-S000000000003".
std::string subscriber_id(std::string_view prefix, std::uint32_t index);

// The back-end client that sends commands: "CNV-C000000000000".
std::string commander_id(std::string_view prefix, std::uint32_t index);

// Remote commands, the way connected-vehicle back ends lay them out:
// commands go to vehicles/{vin}/commands/{action}, the action taken from seq
// in turn (lock, unlock, climate, charge); a vehicle subscribes to
// vehicles/{vin}/commands/+. An MQTT 5 vehicle answers on the command's
// Response Topic, which the commander sets to backend/{commander id}/responses;
// an MQTT 3.1.1 vehicle answers on the command topic + "/response", which the
// commander subscribes to with vehicles/+/commands/+/response.
std::string command_topic(std::string_view vin, std::uint64_t seq);
std::string command_filter(std::string_view vin);
std::string response_topic(std::string_view commander);
inline constexpr std::string_view response_filter_v311 = "vehicles/+/commands/+/response";
inline constexpr std::string_view response_suffix_v311 = "/response";

// Every "{vin}" in pattern replaced by vin.
std::string substitute_vin(std::string_view pattern, std::string_view vin);

// Source address of client number `client` for --source-ips, as four octets:
// 127.1.0.1 upward, skipping host octets 0 and 255.
std::array<std::uint8_t, 4> source_address(std::uint32_t client);

}  // namespace convoy::sim
