#include "actors/vehicle/vehicle_json.hpp"

namespace convoy {

nlohmann::json to_json(const vehicle_record& v) {
  nlohmann::json devices = nlohmann::json::array();
  for (const auto& d : v.devices)
    devices.push_back({{"deviceId", d.device_id},
                       {"fingerprint", d.fingerprint},
                       {"status", to_string(d.status)},
                       {"addedAt", d.added_at}});
  return {{"vin", v.vin},
          {"model", v.model},
          {"region", v.region},
          {"status", to_string(v.status)},
          {"createdAt", v.created_at},
          {"updatedAt", v.updated_at},
          {"devices", std::move(devices)}};
}

}  // namespace convoy
