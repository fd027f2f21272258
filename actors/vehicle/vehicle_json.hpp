#pragma once

#include <nlohmann/json.hpp>

#include "actors/core/messages.hpp"

namespace convoy {

// A vehicle with its devices as the registry's control topic and the HTTP
// API show it: {"vin", "model", "region", "status", "createdAt",
// "updatedAt", "devices": [{"deviceId", "fingerprint", "status", "addedAt"}]}.
nlohmann::json to_json(const vehicle_record& v);

}  // namespace convoy
