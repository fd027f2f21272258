#pragma once

#include <string_view>

namespace convoy::mqtt {

// True if s is well-formed UTF-8 as MQTT requires (spec 1.5.4): no overlong
// forms, no UTF-16 surrogates, nothing above U+10FFFF, and no U+0000.
bool is_valid_mqtt_utf8(std::string_view s);

// True if s is well-formed UTF-8 (RFC 3629): as above but U+0000 is allowed.
// MQTT bans U+0000 from its UTF-8 strings only; a payload whose Payload Format
// Indicator says UTF-8 is held to RFC 3629 (spec 3.3.2.3.2).
bool is_valid_utf8(std::string_view s);

}  // namespace convoy::mqtt
