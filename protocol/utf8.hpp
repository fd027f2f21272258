#pragma once

#include <string_view>

namespace convoy::mqtt {

// True if s is well-formed UTF-8 as MQTT requires (spec 1.5.4): no overlong
// forms, no UTF-16 surrogates, nothing above U+10FFFF, and no U+0000.
bool is_valid_mqtt_utf8(std::string_view s);

}  // namespace convoy::mqtt
