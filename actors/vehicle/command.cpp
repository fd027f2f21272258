#include "actors/vehicle/command.hpp"

namespace convoy {

bool is_terminal(command_status s) {
  return static_cast<std::uint8_t>(s) >= static_cast<std::uint8_t>(command_status::succeeded);
}

std::string_view to_string(command_status s) {
  switch (s) {
    case command_status::received:
      return "received";
    case command_status::queued:
      return "queued";
    case command_status::sent:
      return "sent";
    case command_status::accepted:
      return "accepted";
    case command_status::in_progress:
      return "in_progress";
    case command_status::succeeded:
      return "succeeded";
    case command_status::failed:
      return "failed";
    case command_status::rejected:
      return "rejected";
    case command_status::timed_out:
      return "timed_out";
    case command_status::expired:
      return "expired";
    case command_status::interrupted:
      return "interrupted";
    case command_status::cancelled:
      return "cancelled";
  }
  return "unknown";
}

std::optional<command_status> vehicle_report_status(std::string_view s) {
  if (s == "accepted") return command_status::accepted;
  if (s == "in_progress" || s == "in-progress") return command_status::in_progress;
  if (s == "succeeded") return command_status::succeeded;
  if (s == "failed") return command_status::failed;
  return std::nullopt;
}

}  // namespace convoy
