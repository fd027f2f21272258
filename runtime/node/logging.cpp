#include "runtime/node/logging.hpp"

#include <spdlog/spdlog.h>

namespace convoy::runtime {

bool set_log_level(const std::string& level) {
  auto parsed = spdlog::level::from_str(level);
  // from_str maps unknown names to "off"; only "off" itself may mean off.
  if (parsed == spdlog::level::off && level != "off") return false;
  spdlog::set_level(parsed);
  return true;
}

}  // namespace convoy::runtime
