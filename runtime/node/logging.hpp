#pragma once

#include <string>

namespace convoy::runtime {

// Sets the process-wide spdlog level; false if the name is not a level.
bool set_log_level(const std::string& level);

}  // namespace convoy::runtime
