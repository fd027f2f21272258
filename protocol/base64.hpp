#pragma once

// Standard base64 (RFC 4648, with padding), for payloads shown as text:
// the management API's binary payloads and the telemetry archive.

#include <optional>
#include <string>
#include <string_view>

namespace convoy {

std::string base64_encode(std::string_view bytes);
// Nullopt when `text` is not padded base64.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace convoy
