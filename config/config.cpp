#include "config/config.hpp"

namespace convoy::config {

std::string config_error::to_string() const {
  std::string s;
  if (!source.empty()) s += source + ": ";
  if (!key.empty() && message.find("'" + key + "'") == std::string::npos) {
    s += "key '" + key + "': ";
  }
  s += message;
  return s;
}

}  // namespace convoy::config
