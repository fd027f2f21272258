#include "actors/vehicle/command_json.hpp"

namespace convoy {

nlohmann::json json_value_of(const std::string& text) {
  if (text.empty()) return nullptr;
  auto parsed = nlohmann::json::parse(text, nullptr, false);
  return parsed.is_discarded() ? nlohmann::json(text) : parsed;
}

nlohmann::json to_json(const command_record& c, bool with_timeline) {
  nlohmann::json out = {
      {"id", c.id},
      {"vin", c.vin},
      {"command", c.name},
      {"params", c.params.empty() ? nlohmann::json::object() : json_value_of(c.params)},
      {"status", to_string(c.status)},
      {"terminal", is_terminal(c.status)},
      {"requestedBy", c.requested_by},
      {"createdAt", c.created_at},
      {"timeoutSeconds", c.timeout_ms / 1000},
      {"ttlSeconds", c.ttl_ms / 1000},
      {"result", json_value_of(c.result)},
      {"events", c.timeline.size()},
  };
  if (!c.idempotency_key.empty()) out["idempotencyKey"] = c.idempotency_key;
  if (c.sent_at != 0) out["sentAt"] = c.sent_at;
  if (!c.timeline.empty()) {
    out["updatedAt"] = c.timeline.back().at;
    out["detail"] = c.timeline.back().detail;
  }
  if (with_timeline) {
    nlohmann::json timeline = nlohmann::json::array();
    for (const auto& e : c.timeline)
      timeline.push_back({{"at", e.at}, {"status", to_string(e.status)}, {"detail", e.detail}});
    out["timeline"] = std::move(timeline);
  }
  return out;
}

}  // namespace convoy
