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

// Every "{vin}" in pattern replaced by vin.
std::string substitute_vin(std::string_view pattern, std::string_view vin);

// Source address of client number `client` for --source-ips, as four octets:
// 127.1.0.1 upward, skipping host octets 0 and 255.
std::array<std::uint8_t, 4> source_address(std::uint32_t client);

}  // namespace convoy::sim
