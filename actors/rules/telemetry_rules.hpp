#pragma once

// Telemetry routing rules: which messages go where. A rule matches on a
// topic filter, MQTT 5 user properties and optional predicates on the
// decoded payload, and names actions. The rule set is immutable and shared
// (like the access policy); sessions evaluate it for each PUBLISH they take
// and hand the message to the actions' actors.

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/core/inflow_bound.hpp"
#include "actors/core/messages.hpp"
#include "actors/rules/telemetry_payload.hpp"

namespace convoy {

// One comparison on the decoded payload: "battery.soc < 10",
// "gear == \"D\"", "exists alert".
struct payload_predicate {
  enum class op : std::uint8_t { eq, ne, lt, le, gt, ge, exists };
  std::string text;               // as written, for errors and the API
  std::vector<std::string> path;  // "battery.soc" -> {"battery", "soc"}
  op comparison = op::exists;
  nlohmann::json value;  // the right-hand side (not for exists)

  // Empty when `text` parses; else why not.
  static std::optional<payload_predicate> parse(std::string_view text, std::string& error);
  bool holds(const nlohmann::json& payload) const;
};

enum class rule_action : std::uint8_t {
  deliver = 1,    // to the topic's subscribers, as without rules
  state = 2,      // the vehicle's last known state
  archive = 4,    // appended to an archive's segment files
  republish = 8,  // decoded, enriched from the registry, to a service topic
  webhook = 16,   // batched HTTP POST
};

struct telemetry_rule {
  std::string name;
  std::string filter;                                           // topic filter
  std::vector<std::pair<std::string, std::string>> properties;  // user properties, all required
  std::vector<payload_predicate> where;                         // all must hold
  payload_format format = payload_format::automatic;
  std::uint8_t actions = 0;     // rule_action bits
  std::string archive;          // archive name (archive)
  std::string republish_topic;  // {vin} and {topic} placeholders (republish)
  std::string subject;          // consent subject checked before republish; empty: none
  std::string webhook;          // webhook name (webhook)
  bool from_api = false;        // defined over the management API, not in rules.file

  bool has(rule_action a) const { return (actions & static_cast<std::uint8_t>(a)) != 0; }
  bool needs_payload() const { return !where.empty(); }
};

// Where a message goes: the union of the actions of every rule it matched,
// or, when it matched none, to its subscribers and (telemetry) the state.
struct routing_decision {
  bool deliver = true;
  bool state = false;
  bool matched = false;
  std::vector<std::uint32_t> matched_rules;  // indexes into the rule set
  std::vector<std::uint32_t> archive_rules;
  std::vector<std::uint32_t> republish_rules;
  std::vector<std::uint32_t> webhook_rules;
  bool side_effects() const {
    return state || !archive_rules.empty() || !republish_rules.empty() || !webhook_rules.empty();
  }
};

// The VIN of a vehicle's topic, vehicles/{vin}/...; empty for other topics.
std::string_view vehicle_vin(std::string_view topic);
// The VIN of a telemetry topic, vehicles/{vin}/telemetry/...; empty for
// other topics.
std::string_view telemetry_vin(std::string_view topic);

// The actors a rule feeds: its archive's writer and its webhook (empty
// handles for rules without those actions).
struct rule_targets {
  fed_actor archive;
  fed_actor webhook;
};

class rule_set {
 public:
  // `targets`: one per rule, or empty (no archives or webhooks to feed, as
  // in a dry run).
  explicit rule_set(std::vector<telemetry_rule> rules, std::size_t max_inflated = 1 << 20,
                    std::vector<rule_targets> targets = {})
      : rules_(std::move(rules)),
        targets_(std::move(targets)),
        max_inflated_(max_inflated),
        matches_(std::make_unique<std::atomic<std::uint64_t>[]>(rules_.size())) {
    targets_.resize(rules_.size());
  }

  const std::vector<telemetry_rule>& rules() const { return rules_; }
  const rule_targets& targets(std::size_t i) const { return targets_[i]; }

  // A message's payload is decoded at most once, and only when a rule whose
  // filter and properties matched has predicates: bulk telemetry matched
  // by topic or priority alone is never parsed.
  // `count`: add the match to the rules' counters (not for a dry run).
  routing_decision decide(const app_message& m, bool state_enabled, bool count = true) const;
  // Messages rule i matched so far.
  std::uint64_t matches(std::size_t i) const { return matches_[i].load(std::memory_order_relaxed); }
  // Without rules (or none matched): to the subscribers, and telemetry to
  // the vehicle's state.
  static routing_decision unmatched(const app_message& m, bool state_enabled);

 private:
  std::vector<telemetry_rule> rules_;
  std::vector<rule_targets> targets_;
  std::size_t max_inflated_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> matches_;
};

using rules_ptr = std::shared_ptr<const rule_set>;

// The rule set in force, swapped whole when rules.file or the API changes
// it (as the access policy is); null: no rules. Sessions take one snapshot per
// message, so a message is routed by one set from start to end.
class rules_control {
 public:
  rules_ptr current() const { return rules_.load(std::memory_order_acquire); }
  void install(rules_ptr r) { rules_.store(std::move(r), std::memory_order_release); }

 private:
  std::atomic<rules_ptr> rules_;
};

}  // namespace convoy
