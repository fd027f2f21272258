#pragma once

// The routing rules' payload reader as a fuzz target: the first byte picks
// the format (and the Content Type), the second splits the rest into a
// predicate's text and a payload. Oracle: no sanitizer report, no
// exception; a decoded value survives a JSON round trip; a predicate that
// parses evaluates on it; gzip output never exceeds the bound.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "actors/rules/telemetry_payload.hpp"
#include "actors/rules/telemetry_rules.hpp"

namespace convoy::fuzz {

inline std::string check_payload(std::span<const std::uint8_t> input) {
  if (input.size() < 2) return {};
  static constexpr payload_format formats[] = {payload_format::automatic, payload_format::json,
                                               payload_format::gzip_json, payload_format::msgpack};
  static constexpr std::string_view types[] = {"", "application/json", "application/gzip",
                                               "application/msgpack"};
  auto format = formats[input[0] & 3];
  auto type = types[(input[0] >> 2) & 3];
  std::string_view rest{reinterpret_cast<const char*>(input.data()) + 2, input.size() - 2};
  std::size_t split = std::min<std::size_t>(input[1], rest.size());
  std::string_view predicate_text = rest.substr(0, split);
  std::string_view payload = rest.substr(split);
  constexpr std::size_t bound = 64 * 1024;
  auto decoded = decode_payload(payload, type, format, bound);
  if (decoded.value.is_discarded() && decoded.error.empty())
    return "a payload that did not decode came without a reason";
  if (!decoded.value.is_discarded()) {
    auto text = decoded.value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    auto again = nlohmann::json::parse(text, nullptr, false);
    if (again.is_discarded()) return "a decoded payload did not survive a JSON round trip";
  }
  if (auto inflated = gzip_inflate(payload, bound); inflated && inflated->size() > bound)
    return "gzip_inflate exceeded its bound";
  std::string error;
  if (auto p = payload_predicate::parse(predicate_text, error)) {
    if (!decoded.value.is_discarded()) (void)p->holds(decoded.value);
  } else if (error.empty()) {
    return "a refused predicate came without a reason";
  }
  return {};
}

}  // namespace convoy::fuzz
