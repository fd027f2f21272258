#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#include "actors/vehicle/consent_catalog.hpp"

namespace convoy::runtime {

// A purposes file that cannot be used: the message names file, line and entry.
class purpose_file_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Reads consent.purposes_file, the purposes consents may be given for:
//
//   [purposes.location]
//   description = "Where the vehicle is"
//   topics = ["vehicles/{vin}/telemetry/location/#"]
//
//   [purposes.remote-control]
//   commands = ["lock-doors", "unlock-doors", "climate"]
//
// Throws purpose_file_error.
consent_catalog load_purpose_file(const std::string& path);
consent_catalog parse_purpose_file(std::string_view text, const std::string& name);

}  // namespace convoy::runtime
