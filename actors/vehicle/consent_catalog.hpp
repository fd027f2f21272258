#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace convoy {

// What a purpose of consent covers: telemetry topics (MQTT filters with a
// {vin} placeholder, such as "vehicles/{vin}/telemetry/location/#") and
// command names ("lock-doors").
struct consent_purpose {
  std::string name;
  std::string description;
  std::vector<std::string> topics;
  std::vector<std::string> commands;
};

// The purposes a consent may be given for. Immutable; shared by the consent
// shards and the API.
class consent_catalog {
 public:
  explicit consent_catalog(std::vector<consent_purpose> purposes);

  // The catalog of a node without consent.purposes_file: telemetry,
  // location, diagnostics and remote-control.
  static consent_catalog builtin();

  const consent_purpose* find(std::string_view name) const;
  const std::vector<consent_purpose>& purposes() const { return purposes_; }

  // Whether purpose `p` covers topic `topic` of vehicle `vin`, or command `command`.
  static bool covers_topic(const consent_purpose& p, std::string_view vin, std::string_view topic);
  static bool covers_command(const consent_purpose& p, std::string_view command);

  // Empty when the purpose is usable, else why not (for the catalog file's
  // checks): a name, and topics that are valid filters below vehicles/{vin}/.
  static std::string check(const consent_purpose& p);

 private:
  std::vector<consent_purpose> purposes_;
};

using catalog_ptr = std::shared_ptr<const consent_catalog>;

}  // namespace convoy
