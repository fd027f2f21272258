#pragma once

#include <nlohmann/json.hpp>

#include "actors/vehicle/command.hpp"

namespace convoy {

// A command as the API, its notifications and `convoy ctl` show it; the
// timeline only when asked for (notifications carry the latest event).
nlohmann::json to_json(const command_record& c, bool with_timeline);

// JSON text stored in a record (params, report details) as a value: parsed
// when it is JSON, a string otherwise, null when empty.
nlohmann::json json_value_of(const std::string& text);

}  // namespace convoy
