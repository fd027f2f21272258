#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "actors/rules/archive_writer.hpp"
#include "actors/rules/telemetry_rules.hpp"
#include "actors/rules/webhook.hpp"
#include "runtime/rules/rule_definition.hpp"

namespace convoy::runtime {

// A rules file that cannot be used: the message names file, line and rule.
class rules_file_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct rules_file {
  std::vector<telemetry_rule> rules;  // in file order
  std::vector<archive_spec> archives;
  std::vector<webhook_spec> webhooks;
};

// Reads rules.file:
//
//   [[rule]]
//   name = "alerts"
//   topic = "vehicles/+/telemetry/alerts/#"
//   user_properties = { priority = "high" }   # MQTT 5, all must match
//   where = ["severity >= 3"]                 # on the decoded payload, all must hold
//   format = "auto"                           # json, gzip-json, msgpack
//   actions = ["deliver", "state"]
//
//   [[rule]]
//   name = "bulk"
//   topic = "vehicles/+/telemetry/bulk/#"
//   actions = ["archive"]
//   archive = "bulk"
//
//   [archive.bulk]
//   gzip = true
//   max_segment_bytes = 67108864
//   max_segment_seconds = 3600
//
// Throws rules_file_error.
rules_file load_rules_file(const std::string& path);

// The archives and webhooks `file` defines, for check_rule; it reads
// `file` when asked, so `file` must outlive it.
known_sinks sinks_of(const rules_file& file);
rules_file parse_rules_file(std::string_view text, const std::string& name);

}  // namespace convoy::runtime
