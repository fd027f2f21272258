#include "actors/metrics.hpp"

namespace convoy {

std::string_view name_of(counter c) {
  switch (c) {
    case counter::connections_accepted:
      return "connections_accepted";
    case counter::connections_closed:
      return "connections_closed";
    case counter::connections_refused:
      return "connections_refused";
    case counter::packets_received:
      return "packets_received";
    case counter::packets_sent:
      return "packets_sent";
    case counter::bytes_received:
      return "bytes_received";
    case counter::bytes_sent:
      return "bytes_sent";
    case counter::messages_received_qos0:
      return "messages_received_qos0";
    case counter::messages_received_qos1:
      return "messages_received_qos1";
    case counter::messages_received_qos2:
      return "messages_received_qos2";
    case counter::messages_delivered_qos0:
      return "messages_delivered_qos0";
    case counter::messages_delivered_qos1:
      return "messages_delivered_qos1";
    case counter::messages_delivered_qos2:
      return "messages_delivered_qos2";
    case counter::dropped_queue_full:
      return "dropped_queue_full";
    case counter::dropped_expired:
      return "dropped_expired";
    case counter::dropped_too_large_for_client:
      return "dropped_too_large_for_client";
    case counter::dropped_outbound_backlog:
      return "dropped_outbound_backlog";
    case counter::dropped_no_subscribers:
      return "dropped_no_subscribers";
    case counter::refused_malformed:
      return "refused_malformed";
    case counter::refused_protocol_error:
      return "refused_protocol_error";
    case counter::refused_packet_too_large:
      return "refused_packet_too_large";
    case counter::refused_receive_maximum:
      return "refused_receive_maximum";
    case counter::refused_topic_alias:
      return "refused_topic_alias";
    case counter::refused_qos_not_supported:
      return "refused_qos_not_supported";
    case counter::refused_retain_not_supported:
      return "refused_retain_not_supported";
    case counter::refused_subscription_invalid:
      return "refused_subscription_invalid";
    case counter::refused_storage_busy:
      return "refused_storage_busy";
    case counter::refused_queue_full:
      return "refused_queue_full";
    case counter::refused_not_authorized:
      return "refused_not_authorized";
    case counter::refused_bad_credentials:
      return "refused_bad_credentials";
    case counter::refused_connection_limit:
      return "refused_connection_limit";
    case counter::refused_connect_rate:
      return "refused_connect_rate";
    case counter::refused_tls_handshake:
      return "refused_tls_handshake";
    case counter::disconnected_certificate_revoked:
      return "disconnected_certificate_revoked";
    case counter::tls_reload_failures:
      return "tls_reload_failures";
    case counter::inbound_paused:
      return "inbound_paused";
    case counter::keep_alive_timeouts:
      return "keep_alive_timeouts";
    case counter::connect_timeouts:
      return "connect_timeouts";
    case counter::sessions_taken_over:
      return "sessions_taken_over";
    case counter::sessions_expired:
      return "sessions_expired";
    case counter::wills_published:
      return "wills_published";
    case counter::count_:
      break;
  }
  return "unknown";
}

}  // namespace convoy
