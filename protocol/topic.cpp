#include "protocol/topic.hpp"

namespace convoy::mqtt {

namespace {

constexpr std::size_t max_topic_length = 65535;
constexpr std::string_view share_prefix = "$share/";

reason_code validate_plain_filter(std::string_view filter) {
  if (filter.empty() || filter.size() > max_topic_length) return reason_code::topic_filter_invalid;
  for (std::size_t i = 0; i < filter.size(); ++i) {
    char c = filter[i];
    bool level_start = i == 0 || filter[i - 1] == '/';
    bool level_end = i + 1 == filter.size() || filter[i + 1] == '/';
    if (c == '+' && !(level_start && level_end)) return reason_code::topic_filter_invalid;
    if (c == '#' && !(level_start && i + 1 == filter.size()))
      return reason_code::topic_filter_invalid;
  }
  return reason_code::success;
}

}  // namespace

reason_code validate_topic_name(std::string_view topic) {
  if (topic.empty() || topic.size() > max_topic_length) return reason_code::topic_name_invalid;
  if (topic.find_first_of("+#") != std::string_view::npos) return reason_code::topic_name_invalid;
  return reason_code::success;
}

std::optional<shared_filter> parse_shared_filter(std::string_view filter) {
  if (!filter.starts_with(share_prefix)) return std::nullopt;
  auto rest = filter.substr(share_prefix.size());
  auto slash = rest.find('/');
  if (slash == std::string_view::npos) return shared_filter{rest, {}};
  return shared_filter{rest.substr(0, slash), rest.substr(slash + 1)};
}

reason_code validate_topic_filter(std::string_view filter) {
  if (auto shared = parse_shared_filter(filter)) {
    if (shared->group.empty() || shared->group.find_first_of("+#") != std::string_view::npos)
      return reason_code::topic_filter_invalid;
    return validate_plain_filter(shared->filter);
  }
  return validate_plain_filter(filter);
}

bool has_wildcard(std::string_view filter) {
  return filter.find_first_of("+#") != std::string_view::npos;
}

bool topic_matches(std::string_view filter, std::string_view topic) {
  if (!topic.empty() && topic[0] == '$' && !filter.empty() &&
      (filter[0] == '+' || filter[0] == '#'))
    return false;
  std::size_t f = 0;
  std::size_t t = 0;
  while (true) {
    std::size_t f_end = filter.find('/', f);
    if (f_end == std::string_view::npos) f_end = filter.size();
    std::string_view f_level = filter.substr(f, f_end - f);
    if (f_level == "#") return true;  // matches this level, any below, and the parent
    std::size_t t_end = topic.find('/', t);
    if (t_end == std::string_view::npos) t_end = topic.size();
    std::string_view t_level = topic.substr(t, t_end - t);
    if (f_level != "+" && f_level != t_level) return false;
    bool filter_done = f_end == filter.size();
    bool topic_done = t_end == topic.size();
    if (filter_done && topic_done) return true;
    if (topic_done) {
      // "a/#" also matches "a": the remaining filter must be exactly "/#".
      return filter.substr(f_end) == "/#";
    }
    if (filter_done) return false;
    f = f_end + 1;
    t = t_end + 1;
  }
}

}  // namespace convoy::mqtt
