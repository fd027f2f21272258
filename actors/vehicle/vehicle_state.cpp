#include "actors/vehicle/vehicle_state.hpp"

#include <nlohmann/json.hpp>

#include "protocol/utf8.hpp"

namespace convoy {

namespace {

void flatten(const nlohmann::json& j, const std::string& prefix, epoch_ms at,
             std::vector<state_field>& out, int depth = 0) {
  if (j.is_object() && !j.empty() && depth < 8) {
    for (const auto& [k, v] : j.items())
      flatten(v, prefix.empty() ? k : prefix + "." + k, at, out, depth + 1);
    return;
  }
  if (prefix.empty()) return;
  out.push_back({prefix, j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), at});
}

}  // namespace

telemetry_reading read_telemetry(const app_message& m, epoch_ms at) {
  telemetry_reading r;
  // vehicles/{vin}/telemetry[/part...]
  std::string_view t = m.topic;
  if (!t.starts_with("vehicles/")) return r;
  t.remove_prefix(9);
  auto slash = t.find('/');
  if (slash == std::string_view::npos || slash == 0) return r;
  std::string_view vin = t.substr(0, slash);
  t.remove_prefix(slash + 1);
  if (!t.starts_with("telemetry")) return r;
  t.remove_prefix(9);
  if (!t.empty() && t.front() != '/') return r;
  std::string part;
  for (char c : t.empty() ? std::string_view{} : t.substr(1))
    part += c == '/' ? '.' : c;
  const std::string& payload = m.payload ? *m.payload : std::string{};
  auto j = nlohmann::json::parse(payload, nullptr, false);
  if (!j.is_discarded() && j.is_object()) {
    flatten(j, part, at, r.fields);
  } else if (!part.empty() && mqtt::is_valid_utf8(payload)) {
    r.fields.push_back({part, nlohmann::json(payload).dump(), at});
    if (!j.is_discarded()) r.fields.back().value = j.dump();
  }
  if (!r.fields.empty()) r.vin = std::string{vin};
  return r;
}

}  // namespace convoy
