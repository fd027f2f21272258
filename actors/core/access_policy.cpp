#include "actors/core/access_policy.hpp"

#include "protocol/topic.hpp"

namespace convoy {

namespace {

bool safe_value(std::string_view v) {
  return !v.empty() && v.find_first_of(std::string_view{"/+#\0", 4}) == std::string_view::npos;
}

// Splits a topic or filter at '/', keeping empty levels.
std::vector<std::string_view> split_levels(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    std::size_t slash = s.find('/', start);
    if (slash == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, slash - start));
    start = slash + 1;
  }
}

}  // namespace

access_template::access_template(std::string_view text) : text_(text) {
  if (text.empty()) {
    error_ = "empty";
    return;
  }
  for (std::string_view raw : split_levels(text)) {
    level l;
    if (raw == "+") {
      l.what = level::kind::plus;
    } else if (raw == "#") {
      l.what = level::kind::hash;
    } else {
      std::size_t i = 0;
      while (i < raw.size()) {
        std::size_t open = raw.find('{', i);
        if (open != i) {
          std::string_view literal = raw.substr(i, open - i);
          if (literal.find_first_of("+#}") != std::string_view::npos) {
            error_ = "'+', '#' and '}' must stand alone";
            return;
          }
          l.parts.push_back({part_kind::text, std::string{literal}});
          if (open == std::string_view::npos) break;
        }
        std::size_t close = raw.find('}', open);
        if (close == std::string_view::npos) {
          error_ = "'{' without '}'";
          return;
        }
        std::string_view name = raw.substr(open + 1, close - open - 1);
        part_kind k;
        if (name == "client_id") {
          k = part_kind::client_id;
        } else if (name == "identity" || name == "username") {
          k = part_kind::identity;
        } else if (name == "vin") {
          k = part_kind::vin;
        } else if (name == "region") {
          k = part_kind::region;
        } else {
          error_ = "unknown placeholder {" + std::string{name} +
                   "} (known: {client_id}, {identity}, {username}, {vin}, {region})";
          return;
        }
        l.parts.push_back({k, {}});
        i = close + 1;
      }
    }
    levels_.push_back(std::move(l));
  }
  for (std::size_t i = 0; i + 1 < levels_.size(); ++i) {
    if (levels_[i].what == level::kind::hash) {
      error_ = "'#' must be the last level";
      return;
    }
  }
  // As a client id pattern: a trailing '*' of the last text part.
  if (levels_.size() == 1 && !levels_[0].parts.empty()) {
    part& last = levels_[0].parts.back();
    if (last.kind == part_kind::text && !last.text.empty() && last.text.back() == '*') {
      last.text.pop_back();
      any_suffix_ = true;
      if (last.text.empty()) levels_[0].parts.pop_back();
    }
  }
}

std::string_view access_template::value_of(part_kind k, const subject& who) {
  switch (k) {
    case part_kind::client_id:
      return who.client_id;
    case part_kind::identity:
      return who.identity;
    case part_kind::vin:
      return who.vin;
    case part_kind::region:
      return who.region;
    case part_kind::text:
      break;
  }
  return {};
}

bool access_template::level_equals(const level& l, std::string_view value, const subject& who) {
  std::size_t at = 0;
  for (const part& p : l.parts) {
    std::string_view piece =
        p.kind == part_kind::text ? std::string_view{p.text} : value_of(p.kind, who);
    if (p.kind != part_kind::text && !safe_value(piece)) return false;
    if (value.substr(at, piece.size()) != piece) return false;
    at += piece.size();
  }
  return at == value.size();
}

bool access_template::matches_topic(std::string_view topic, const subject& who) const {
  if (!ok()) return false;
  auto levels = split_levels(topic);
  // Wildcards at the first level do not reach $-topics (spec 4.7.2).
  bool system_topic = !topic.empty() && topic.front() == '$';
  for (std::size_t i = 0; i < levels_.size(); ++i) {
    const level& l = levels_[i];
    if (l.what == level::kind::hash) return !(i == 0 && system_topic);
    if (i >= levels.size()) return false;
    if (l.what == level::kind::plus) {
      if (i == 0 && system_topic) return false;
      continue;
    }
    if (!level_equals(l, levels[i], who)) return false;
  }
  return levels.size() == levels_.size();
}

bool access_template::covers_filter(std::string_view filter, const subject& who) const {
  if (!ok()) return false;
  auto levels = split_levels(filter);
  bool system_topic = !filter.empty() && filter.front() == '$';
  for (std::size_t i = 0; i < levels_.size(); ++i) {
    const level& l = levels_[i];
    if (l.what == level::kind::hash) return !(i == 0 && system_topic);
    if (i >= levels.size()) return false;
    std::string_view f = levels[i];
    if (f == "#") return false;  // more than this level can hold
    if (l.what == level::kind::plus) {
      if (i == 0 && system_topic) return false;
      continue;
    }
    if (f == "+") return false;  // any value, where only one is allowed
    if (!level_equals(l, f, who)) return false;
  }
  return levels.size() == levels_.size();
}

bool access_template::matches_client_id(std::string_view client_id, const subject& who) const {
  if (!ok() || levels_.size() != 1 || levels_[0].what != level::kind::exact) return false;
  if (!any_suffix_) return level_equals(levels_[0], client_id, who);
  // The parts must match a prefix; the rest is free.
  std::size_t at = 0;
  for (const part& p : levels_[0].parts) {
    std::string_view piece =
        p.kind == part_kind::text ? std::string_view{p.text} : value_of(p.kind, who);
    if (p.kind != part_kind::text && !safe_value(piece)) return false;
    if (client_id.substr(at, piece.size()) != piece) return false;
    at += piece.size();
  }
  return true;
}

std::string access_policy::role_for(const principal_ptr& who) const {
  if (!who || who->method == auth_method::anonymous) return anonymous_role;
  if (auto it = user_roles.find(who->identity); it != user_roles.end()) return it->second;
  switch (who->method) {
    case auth_method::certificate:
      return certificate_role;
    case auth_method::jwt:
      return jwt_role;
    default:
      return password_role;
  }
}

const access_role* access_policy::find(std::string_view role) const {
  auto it = roles.find(std::string{role});
  return it == roles.end() ? nullptr : &it->second;
}

access_template::subject access_policy::subject_of(const client_principal* who,
                                                   std::string_view client_id) {
  access_template::subject s;
  s.client_id = client_id;
  if (who) {
    s.identity = who->identity;
    // A vehicle's certificate names it by its VIN; its region comes from
    // the device registry.
    if (who->method == auth_method::certificate) s.vin = who->identity;
    s.region = who->region;
  }
  return s;
}

bool access_policy::may_use_client_id(const access_role& role,
                                      const access_template::subject& who) {
  if (role.client_ids.empty()) return true;
  for (const auto& t : role.client_ids)
    if (t.matches_client_id(who.client_id, who)) return true;
  return false;
}

bool is_control_topic(std::string_view topic_or_filter) {
  constexpr std::string_view control = "$CONTROL";
  return topic_or_filter.starts_with(control) &&
         (topic_or_filter.size() == control.size() || topic_or_filter[control.size()] == '/');
}

bool access_policy::may_publish(const access_role& role, std::string_view topic,
                                const access_template::subject& who) {
  if (role.all_but_control) return !is_control_topic(topic);
  for (const auto& t : role.publish)
    if (t.matches_topic(topic, who)) return true;
  return false;
}

bool access_policy::may_subscribe(const access_role& role, std::string_view filter,
                                  const access_template::subject& who) {
  if (auto shared = mqtt::parse_shared_filter(filter)) filter = shared->filter;
  if (role.all_but_control) return !is_control_topic(filter);
  for (const auto& t : role.subscribe)
    if (t.covers_filter(filter, who)) return true;
  return false;
}

}  // namespace convoy
