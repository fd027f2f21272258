#include "examples/sim/naming.hpp"

namespace convoy::sim {

namespace {

constexpr std::string_view vin_alphabet = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ";

std::string padded(std::string id, std::uint32_t index, std::size_t min_digits) {
  std::size_t digits = id.size() + min_digits >= 17 ? min_digits : 17 - id.size();
  std::string tail(digits, '0');
  for (std::size_t i = digits; i-- > 0 && index != 0;) {
    tail[i] = vin_alphabet[index % vin_alphabet.size()];
    index /= static_cast<std::uint32_t>(vin_alphabet.size());
  }
  // Indexes too large for the digits get more of them rather than colliding.
  while (index != 0) {
    tail.insert(tail.begin(), vin_alphabet[index % vin_alphabet.size()]);
    index /= static_cast<std::uint32_t>(vin_alphabet.size());
  }
  return id + tail;
}

}  // namespace

std::string vehicle_id(std::string_view prefix, std::uint32_t index) {
  return padded(std::string{prefix}, index, 6);
}

std::string subscriber_id(std::string_view prefix, std::uint32_t index) {
  return padded(std::string{prefix} + "-S", index, 4);
}

std::string commander_id(std::string_view prefix, std::uint32_t index) {
  return padded(std::string{prefix} + "-C", index, 4);
}

std::string command_topic(std::string_view vin, std::uint64_t seq) {
  constexpr std::array<std::string_view, 4> actions{"lock", "unlock", "climate", "charge"};
  std::string t{"vehicles/"};
  t.append(vin).append("/commands/").append(actions[seq % actions.size()]);
  return t;
}

std::string command_filter(std::string_view vin) {
  std::string f{"vehicles/"};
  f.append(vin).append("/commands/+");
  return f;
}

std::string response_topic(std::string_view commander) {
  std::string t{"backend/"};
  t.append(commander).append("/responses");
  return t;
}

std::string substitute_vin(std::string_view pattern, std::string_view vin) {
  constexpr std::string_view marker = "{vin}";
  std::string out;
  out.reserve(pattern.size() + 16);
  std::size_t pos = 0;
  for (;;) {
    std::size_t at = pattern.find(marker, pos);
    if (at == std::string_view::npos) break;
    out.append(pattern.substr(pos, at - pos));
    out.append(vin);
    pos = at + marker.size();
  }
  out.append(pattern.substr(pos));
  return out;
}

std::array<std::uint8_t, 4> source_address(std::uint32_t client) {
  std::uint32_t block = client / 254;
  return {127, static_cast<std::uint8_t>(1 + block / 256), static_cast<std::uint8_t>(block % 256),
          static_cast<std::uint8_t>(1 + client % 254)};
}

}  // namespace convoy::sim
