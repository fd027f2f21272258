#include "actors/vehicle/consent_catalog.hpp"

#include <algorithm>

#include "protocol/topic.hpp"

namespace convoy {

namespace {

std::string with_vin(std::string_view filter, std::string_view vin) {
  std::string out;
  for (std::size_t i = 0; i < filter.size();) {
    if (filter.substr(i, 5) == "{vin}") {
      out += vin;
      i += 5;
    } else {
      out += filter[i++];
    }
  }
  return out;
}

}  // namespace

consent_catalog::consent_catalog(std::vector<consent_purpose> purposes)
    : purposes_(std::move(purposes)) {}

consent_catalog consent_catalog::builtin() {
  return consent_catalog{{
      {"telemetry", "All telemetry of the vehicle.", {"vehicles/{vin}/telemetry/#"}, {}},
      {"location",
       "Where the vehicle is.",
       {"vehicles/{vin}/telemetry/location", "vehicles/{vin}/telemetry/location/#"},
       {}},
      {"diagnostics",
       "Health and fault codes, and reading them out.",
       {"vehicles/{vin}/telemetry/diagnostics/#"},
       {"read-dtc", "clear-dtc"}},
      {"remote-control",
       "Commands that act on the vehicle.",
       {},
       {"lock-doors", "unlock-doors", "climate", "charging", "honk-flash"}},
  }};
}

const consent_purpose* consent_catalog::find(std::string_view name) const {
  for (const auto& p : purposes_)
    if (p.name == name) return &p;
  return nullptr;
}

bool consent_catalog::covers_topic(const consent_purpose& p, std::string_view vin,
                                   std::string_view topic) {
  return std::any_of(p.topics.begin(), p.topics.end(), [&](const std::string& filter) {
    return mqtt::topic_matches(with_vin(filter, vin), topic);
  });
}

bool consent_catalog::covers_command(const consent_purpose& p, std::string_view command) {
  return std::find(p.commands.begin(), p.commands.end(), command) != p.commands.end();
}

std::string consent_catalog::check(const consent_purpose& p) {
  if (p.name.empty()) return "a purpose needs a name";
  if (p.name.find_first_of(std::string_view{"\0/", 2}) != std::string::npos)
    return "purpose names hold no '/' or NUL";
  for (const auto& t : p.topics) {
    if (!t.starts_with("vehicles/{vin}/"))
      return "topic '" + t + "' must start with vehicles/{vin}/";
    if (mqtt::validate_topic_filter(with_vin(t, "VIN")) != mqtt::reason_code::success)
      return "topic '" + t + "' is not a valid topic filter";
  }
  for (const auto& c : p.commands)
    if (c.empty() || c.find('/') != std::string::npos)
      return "command '" + c + "' must be a name without '/'";
  return {};
}

}  // namespace convoy
