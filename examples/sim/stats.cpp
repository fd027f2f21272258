#include "examples/sim/stats.hpp"

#include <cctype>

#include "protocol/reason_code.hpp"

namespace convoy::sim {

const char* to_string(error_kind k) {
  switch (k) {
    case error_kind::connect_refused:
      return "connect_refused";
    case error_kind::connect_timeout:
      return "connect_timeout";
    case error_kind::connect_error:
      return "connect_error";
    case error_kind::closed_before_connack:
      return "closed_before_connack";
    case error_kind::subscribe_failed:
      return "subscribe_failed";
    case error_kind::connection_closed:
      return "connection_closed";
    case error_kind::connection_error:
      return "connection_error";
    case error_kind::ping_timeout:
      return "ping_timeout";
    case error_kind::protocol_error:
      return "protocol_error";
    case error_kind::unexpected_packet:
      return "unexpected_packet";
    case error_kind::ack_unknown_packet_id:
      return "ack_unknown_packet_id";
    case error_kind::foreign_payload:
      return "foreign_payload";
    case error_kind::skipped_window_full:
      return "skipped_window_full";
    case error_kind::skipped_backpressure:
      return "skipped_backpressure";
    case error_kind::skipped_lag:
      return "skipped_lag";
    case error_kind::command_skipped:
      return "command_skipped";
    case error_kind::response_skipped:
      return "response_skipped";
    case error_kind::bad_command:
      return "bad_command";
    case error_kind::bad_response:
      return "bad_response";
    case error_kind::count_:
      break;
  }
  return "unknown";
}

namespace {

// "Not authorized" -> "not_authorized"; unknown codes by number.
std::string reason_key(std::size_t code) {
  auto rc = static_cast<mqtt::reason_code>(code);
  if (!mqtt::is_known_reason_code(static_cast<std::uint8_t>(code))) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02zx", code);
    return hex;
  }
  std::string out;
  for (const char* p = mqtt::to_string(rc); *p != '\0'; ++p) {
    unsigned char c = static_cast<unsigned char>(*p);
    if (std::isalnum(c))
      out += static_cast<char>(std::tolower(c));
    else if (!out.empty() && out.back() != '_')
      out += '_';
  }
  while (!out.empty() && out.back() == '_')
    out.pop_back();
  return out;
}

}  // namespace

std::uint64_t thread_stats::error_total() const {
  std::uint64_t n = 0;
  for (const auto& c : errors)
    n += c.get();
  for (std::size_t i = 0; i < 256; ++i)
    n += connack_refusals[i].get() + disconnects[i].get() + publish_refusals[i].get();
  return n;
}

void thread_stats::collect_errors(std::map<std::string, std::uint64_t>& out) const {
  for (std::size_t i = 0; i < errors.size(); ++i)
    if (auto n = errors[i].get()) out[to_string(static_cast<error_kind>(i))] += n;
  for (std::size_t i = 0; i < 256; ++i) {
    if (auto n = connack_refusals[i].get()) out["connack_" + reason_key(i)] += n;
    if (auto n = disconnects[i].get()) out["disconnect_" + reason_key(i)] += n;
    if (auto n = publish_refusals[i].get()) out["publish_refused_" + reason_key(i)] += n;
  }
}

}  // namespace convoy::sim
