#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "protocol/reason_code.hpp"

namespace convoy::mqtt {

// Topic names and filters (spec 4.7). Both are UTF-8 checked by the decoder;
// these functions check the topic rules on top.

// Success, or Topic Name invalid: empty, wildcard characters, too long.
reason_code validate_topic_name(std::string_view topic);

// Success, or Topic Filter invalid: empty, '#' not last or not alone in its
// level, '+' not alone in its level, a malformed $share filter.
reason_code validate_topic_filter(std::string_view filter);

// True if the topic name matches the (non-shared) filter. Filters starting
// with a wildcard do not match topics starting with '$' (spec 4.7.2).
bool topic_matches(std::string_view filter, std::string_view topic);

bool has_wildcard(std::string_view filter);

// "$share/{group}/{filter}" split into its parts.
struct shared_filter {
  std::string_view group;
  std::string_view filter;
};

// Nullopt if filter is not a shared subscription. A filter that starts with
// "$share/" but is malformed is rejected by validate_topic_filter.
std::optional<shared_filter> parse_shared_filter(std::string_view filter);

}  // namespace convoy::mqtt
