#include "actors/rules/telemetry_rules.hpp"

#include <algorithm>
#include <cctype>

#include "protocol/topic.hpp"

namespace convoy {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
    s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.remove_suffix(1);
  return s;
}

bool valid_path_char(char ch) {
  return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-' || ch == '.';
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> parts;
  while (!path.empty()) {
    auto dot = path.find('.');
    parts.emplace_back(path.substr(0, dot));
    if (dot == std::string_view::npos) break;
    path.remove_prefix(dot + 1);
  }
  return parts;
}

const nlohmann::json* lookup(const nlohmann::json& root, const std::vector<std::string>& path) {
  const nlohmann::json* at = &root;
  for (const auto& key : path) {
    if (!at->is_object()) return nullptr;
    auto it = at->find(key);
    if (it == at->end()) return nullptr;
    at = &*it;
  }
  return at;
}

}  // namespace

std::optional<payload_predicate> payload_predicate::parse(std::string_view text,
                                                          std::string& error) {
  payload_predicate p;
  p.text = std::string{text};
  std::string_view s = trim(text);
  if (s.starts_with("exists ")) {
    auto path = trim(s.substr(7));
    if (path.empty() || !std::all_of(path.begin(), path.end(), valid_path_char)) {
      error = "'exists' needs a field path such as battery.soc";
      return std::nullopt;
    }
    p.path = split_path(path);
    p.comparison = op::exists;
    return p;
  }
  std::size_t i = 0;
  while (i < s.size() && valid_path_char(s[i]))
    ++i;
  auto path = s.substr(0, i);
  if (path.empty()) {
    error = "a predicate starts with a field path (battery.soc), or 'exists PATH'";
    return std::nullopt;
  }
  p.path = split_path(path);
  auto rest = trim(s.substr(i));
  static constexpr std::pair<std::string_view, op> ops[] = {
      {"==", op::eq}, {"!=", op::ne}, {"<=", op::le}, {">=", op::ge}, {"<", op::lt}, {">", op::gt}};
  bool found = false;
  for (auto [name, o] : ops) {
    if (rest.starts_with(name)) {
      p.comparison = o;
      rest = trim(rest.substr(name.size()));
      found = true;
      break;
    }
  }
  if (!found) {
    error = "expected one of ==, !=, <, <=, >, >= after '" + std::string{path} + "'";
    return std::nullopt;
  }
  p.value = nlohmann::json::parse(rest, nullptr, false);
  if (p.value.is_discarded() || p.value.is_object() || p.value.is_array()) {
    error = "the value must be a number, a \"string\", true, false or null; got '" +
            std::string{rest} + "'";
    return std::nullopt;
  }
  if ((p.comparison != op::eq && p.comparison != op::ne) && !p.value.is_number() &&
      !p.value.is_string()) {
    error = "<, <=, > and >= compare numbers or strings";
    return std::nullopt;
  }
  return p;
}

bool payload_predicate::holds(const nlohmann::json& payload) const {
  const nlohmann::json* field = lookup(payload, path);
  if (comparison == op::exists) return field != nullptr;
  if (!field) return false;
  auto compare = [this](const auto& a, const auto& b) {
    switch (comparison) {
      case op::eq:
        return a == b;
      case op::ne:
        return a != b;
      case op::lt:
        return a < b;
      case op::le:
        return a <= b;
      case op::gt:
        return a > b;
      case op::ge:
        return a >= b;
      case op::exists:
        return true;
    }
    return false;
  };
  // Numbers compare as numbers whatever their JSON type (1 == 1.0).
  if (field->is_number() && value.is_number())
    return compare(field->get<double>(), value.get<double>());
  if (field->is_string() && value.is_string())
    return compare(field->get_ref<const std::string&>(), value.get_ref<const std::string&>());
  if (comparison == op::eq) return *field == value;
  if (comparison == op::ne) return *field != value;
  return false;  // an order between different kinds of values is no match
}

std::string_view vehicle_vin(std::string_view topic) {
  constexpr std::string_view prefix = "vehicles/";
  if (!topic.starts_with(prefix)) return {};
  topic.remove_prefix(prefix.size());
  return topic.substr(0, topic.find('/'));
}

std::string_view telemetry_vin(std::string_view topic) {
  auto vin = vehicle_vin(topic);
  if (vin.empty()) return {};
  auto rest = topic.substr(9 + vin.size());  // "/telemetry..." or ""
  constexpr std::string_view telemetry = "/telemetry";
  if (!rest.starts_with(telemetry)) return {};
  rest.remove_prefix(telemetry.size());
  if (!rest.empty() && rest.front() != '/') return {};
  return vin;
}

routing_decision rule_set::unmatched(const app_message& m, bool state_enabled) {
  routing_decision d;
  d.deliver = true;
  d.state = state_enabled && !telemetry_vin(m.topic).empty();
  return d;
}

routing_decision rule_set::decide(const app_message& m, bool state_enabled, bool count) const {
  routing_decision d;
  std::optional<decoded_payload> decoded;
  std::optional<std::vector<mqtt::string_pair>> user_properties;
  std::uint8_t actions = 0;
  for (std::uint32_t i = 0; i < rules_.size(); ++i) {
    const auto& r = rules_[i];
    if (!mqtt::topic_matches(r.filter, m.topic)) continue;
    if (!r.properties.empty()) {
      if (!user_properties) user_properties = m.props.user_properties();
      bool all = true;
      for (const auto& [name, value] : r.properties) {
        bool found = false;
        for (const auto& p : *user_properties)
          if (p.name == name && p.value == value) found = true;
        if (!found) all = false;
      }
      if (!all) continue;
    }
    if (r.needs_payload()) {
      if (!decoded || decoded->format != r.format) {
        const std::string* type = m.props.string(mqtt::property_id::content_type);
        decoded = decode_payload(m.payload ? std::string_view{*m.payload} : std::string_view{},
                                 type ? std::string_view{*type} : std::string_view{}, r.format,
                                 max_inflated_);
        // Remembered under the rule's format, so the next rule of the same
        // format reuses it.
        decoded->format = r.format;
      }
      if (decoded->value.is_discarded()) continue;
      bool all = true;
      for (const auto& p : r.where)
        if (!p.holds(decoded->value)) all = false;
      if (!all) continue;
    }
    d.matched = true;
    if (count) matches_[i].fetch_add(1, std::memory_order_relaxed);
    d.matched_rules.push_back(i);
    actions |= r.actions;
    if (r.has(rule_action::archive)) d.archive_rules.push_back(i);
    if (r.has(rule_action::republish)) d.republish_rules.push_back(i);
    if (r.has(rule_action::webhook)) d.webhook_rules.push_back(i);
  }
  if (!d.matched) return unmatched(m, state_enabled);
  d.deliver = (actions & static_cast<std::uint8_t>(rule_action::deliver)) != 0;
  d.state = state_enabled && (actions & static_cast<std::uint8_t>(rule_action::state)) != 0 &&
            !telemetry_vin(m.topic).empty();
  return d;
}

}  // namespace convoy
