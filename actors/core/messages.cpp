#include "actors/core/messages.hpp"

#include "actors/routing/peer_routes.hpp"
#include "actors/routing/session_directory.hpp"
#include "actors/routing/session_moves.hpp"
#include "actors/routing/session_registry.hpp"

#include "actors/core/inspection.hpp"
#include "actors/rules/archive_writer.hpp"
#include "actors/rules/rule_worker.hpp"
#include "actors/rules/webhook.hpp"
#include "actors/vehicle/command.hpp"
#include "actors/vehicle/consent.hpp"
#include "actors/vehicle/vehicle_state_shard.hpp"

#include <variant>

#include "actors/core/refusal_log.hpp"
#include "actors/vehicle/registry_control.hpp"
#include "protocol/encoder.hpp"

namespace convoy {

std::string_view to_string(vehicle_status s) {
  switch (s) {
    case vehicle_status::active:
      return "active";
    case vehicle_status::suspended:
      return "suspended";
  }
  return "unknown";
}

std::string_view to_string(device_status s) {
  switch (s) {
    case device_status::active:
      return "active";
    case device_status::replaced:
      return "replaced";
    case device_status::suspended:
      return "suspended";
    case device_status::revoked:
      return "revoked";
  }
  return "unknown";
}

epoch_ms now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::int64_t now_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

std::shared_ptr<const mqtt::byte_buffer> app_message::shared_header(mqtt::protocol_version version,
                                                                    bool retain_flag) const {
  std::size_t slot = (version == mqtt::protocol_version::v5 ? 2 : 0) + (retain_flag ? 1 : 0);
  std::lock_guard lock{header_mutex_};
  if (!headers_[slot]) {
    mqtt::publish_packet header;
    header.topic = topic;
    header.retain = retain_flag;
    if (version == mqtt::protocol_version::v5) header.props = props;
    auto bytes = std::make_shared<mqtt::byte_buffer>();
    mqtt::encode_publish_header(header, payload ? payload->size() : 0, version, *bytes);
    headers_[slot] = std::move(bytes);
  }
  return headers_[slot];
}

mqtt::properties forwarded_properties(const mqtt::properties& props) {
  using mqtt::property_id;
  mqtt::properties out;
  for (const auto& p : props) {
    switch (p.id) {
      case property_id::payload_format_indicator:
      case property_id::content_type:
      case property_id::response_topic:
      case property_id::correlation_data:
      case property_id::user_property:
        out.append(p);
        break;
      default:
        break;
    }
  }
  return out;
}

void register_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<mailbox_probe>("convoy.mailbox_probe");
  cfg.add_message_type<session_page_request>("convoy.session_page_request");
  cfg.add_message_type<session_page>("convoy.session_page");
  cfg.add_message_type<session_lookup>("convoy.session_lookup");
  cfg.add_message_type<session_summary_request>("convoy.session_summary_request");
  cfg.add_message_type<session_summary>("convoy.session_summary");
  cfg.add_message_type<kick_request>("convoy.kick_request");
  cfg.add_message_type<retained_page_request>("convoy.retained_page_request");
  cfg.add_message_type<retained_page>("convoy.retained_page");
  cfg.add_message_type<vehicle_page_request>("convoy.vehicle_page_request");
  cfg.add_message_type<vehicle_page>("convoy.vehicle_page");
  cfg.add_message_type<consent_record>("convoy.consent_record");
  cfg.add_message_type<consent_grant>("convoy.consent_grant");
  cfg.add_message_type<consent_revoke>("convoy.consent_revoke");
  cfg.add_message_type<consent_list_request>("convoy.consent_list_request");
  cfg.add_message_type<consent_list>("convoy.consent_list");
  cfg.add_message_type<consent_result>("convoy.consent_result");
  cfg.add_message_type<consent_check>("convoy.consent_check");
  cfg.add_message_type<consent_verdict>("convoy.consent_verdict");
  cfg.add_message_type<consent_purpose>("convoy.consent_purpose");
  cfg.add_message_type<consent_gate_setup>("convoy.consent_gate_setup");
  cfg.add_message_type<gated_delivery>("convoy.gated_delivery");
  cfg.add_message_type<delivery_withheld>("convoy.delivery_withheld");
  cfg.add_message_type<command_event>("convoy.command_event");
  cfg.add_message_type<command_record>("convoy.command_record");
  cfg.add_message_type<command_submit>("convoy.command_submit");
  cfg.add_message_type<command_get>("convoy.command_get");
  cfg.add_message_type<command_cancel>("convoy.command_cancel");
  cfg.add_message_type<command_reply>("convoy.command_reply");
  cfg.add_message_type<command_list_request>("convoy.command_list_request");
  cfg.add_message_type<command_list>("convoy.command_list");
  cfg.add_message_type<vehicle_presence>("convoy.vehicle_presence");
  cfg.add_message_type<presence_changed>("convoy.presence_changed");
  cfg.add_message_type<command_report>("convoy.command_report");
  cfg.add_message_type<command_changed>("convoy.command_changed");
  cfg.add_message_type<command_report_forward>("convoy.command_report_forward");
  cfg.add_message_type<command_shards>("convoy.command_shards");
  cfg.add_message_type<archive_append>("convoy.archive_append");
  cfg.add_message_type<rule_hit>("convoy.rule_hit");
  cfg.add_message_type<webhook_item>("convoy.webhook_item");
  cfg.add_message_type<webhook_result>("convoy.webhook_result");
  cfg.add_message_type<webhook_reconfigure>("convoy.webhook_reconfigure");
  cfg.add_message_type<webhook_status_request>("convoy.webhook_status_request");
  cfg.add_message_type<webhook_status>("convoy.webhook_status");
  cfg.add_message_type<archive_reconfigure>("convoy.archive_reconfigure");
  cfg.add_message_type<vehicle_state>("convoy.vehicle_state");
  cfg.add_message_type<vehicle_state_request>("convoy.vehicle_state_request");
  cfg.add_message_type<telemetry_forward>("convoy.telemetry_forward");
  cfg.add_message_type<delivery>("convoy.delivery");
  cfg.add_message_type<route_request>("convoy.route_request");
  cfg.add_message_type<route_outcome>("convoy.route_outcome");
  cfg.add_message_type<subscriber_state>("convoy.subscriber_state");
  cfg.add_message_type<subscribe_request>("convoy.subscribe_request");
  cfg.add_message_type<retained_batch>("convoy.retained_batch");
  cfg.add_message_type<delivery_batch>("convoy.delivery_batch");
  cfg.add_message_type<peer_routes_update>("convoy.peer_routes_update");
  cfg.add_message_type<peer_filter_added>("convoy.peer_filter_added");
  cfg.add_message_type<peer_route>("convoy.peer_route");
  cfg.add_message_type<std::vector<peer_route>>("convoy.peer_routes");
  cfg.add_message_type<peer_route_batch>("convoy.peer_route_batch");
  cfg.add_message_type<peer_route_ack>("convoy.peer_route_ack");
  cfg.add_message_type<peer_shard>("convoy.peer_shard");
  cfg.add_message_type<topic_shards_request>("convoy.topic_shards_request");
  cfg.add_message_type<slice_home>("convoy.slice_home");
  cfg.add_message_type<retained_handover>("convoy.retained_handover");
  cfg.add_message_type<leaving_home>("convoy.leaving_home");
  cfg.add_message_type<retained_held_request>("convoy.retained_held_request");
  cfg.add_message_type<retained_put>("convoy.retained_put");
  cfg.add_message_type<retained_match>("convoy.retained_match");
  cfg.add_message_type<retained_matches>("convoy.retained_matches");
  cfg.add_message_type<topic_shard_list>("convoy.topic_shard_list");
  cfg.add_message_type<session_claim>("convoy.session_claim");
  cfg.add_message_type<session_locate>("convoy.session_locate");
  cfg.add_message_type<session_location>("convoy.session_location");
  cfg.add_message_type<session_lookup_here>("convoy.session_lookup_here");
  cfg.add_message_type<session_page_here>("convoy.session_page_here");
  cfg.add_message_type<session_claim_reply>("convoy.session_claim_reply");
  cfg.add_message_type<session_gone>("convoy.session_gone");
  cfg.add_message_type<directory_entry>("convoy.directory_entry");
  cfg.add_message_type<directory_report>("convoy.directory_report");
  cfg.add_message_type<session_superseded>("convoy.session_superseded");
  cfg.add_message_type<directory_view>("convoy.directory_view");
  cfg.add_message_type<directory_homes>("convoy.directory_homes");
  cfg.add_message_type<session_takeover>("convoy.session_takeover");
  cfg.add_message_type<takeover_answer>("convoy.takeover_answer");
  cfg.add_message_type<move_out>("convoy.move_out");
  cfg.add_message_type<move_in>("convoy.move_in");
  cfg.add_message_type<moved_in>("convoy.moved_in");
  cfg.add_message_type<move_rest>("convoy.move_rest");
  cfg.add_message_type<move_deadline>("convoy.move_deadline");
  cfg.add_message_type<collect_deadline>("convoy.collect_deadline");
  cfg.add_message_type<claim_retry>("convoy.claim_retry");
  cfg.add_message_type<std::vector<directory_entry>>("convoy.directory_entries");
  cfg.add_message_type<restore_retained>("convoy.restore_retained");
  cfg.add_message_type<restore_session>("convoy.restore_session");
  cfg.add_message_type<session_stored>("convoy.session_stored");
  cfg.add_message_type<route_stored>("convoy.route_stored");
  cfg.add_message_type<unsubscribe_request>("convoy.unsubscribe_request");
  cfg.add_message_type<drop_subscriber>("convoy.drop_subscriber");
  cfg.add_message_type<connect_request>("convoy.connect_request");
  cfg.add_message_type<attach_connection>("convoy.attach_connection");
  cfg.add_message_type<discard_session>("convoy.discard_session");
  cfg.add_message_type<access_changed>("convoy.access_changed");
  cfg.add_message_type<device_record>("convoy.device_record");
  cfg.add_message_type<std::vector<device_record>>("convoy.device_records");
  cfg.add_message_type<vehicle_record>("convoy.vehicle_record");
  cfg.add_message_type<registry_command>("convoy.registry_command");
  cfg.add_message_type<registry_result>("convoy.registry_result");
  cfg.add_message_type<registry_check>("convoy.registry_check");
  cfg.add_message_type<registry_verdict>("convoy.registry_verdict");
  cfg.add_message_type<vehicle_changed>("convoy.vehicle_changed");
  cfg.add_message_type<registry_listener>("convoy.registry_listener");
  cfg.add_message_type<control_request>("convoy.control_request");
  cfg.add_message_type<refusal_record>("convoy.refusal_record");
  cfg.add_message_type<std::vector<refusal_record>>("convoy.refusal_records");
  cfg.add_message_type<refusal_event>("convoy.refusal_event");
  cfg.add_message_type<refusals_query>("convoy.refusals_query");
  cfg.add_message_type<refusals_answer>("convoy.refusals_answer");
  cfg.add_message_type<delivery_refused>("convoy.delivery_refused");
  cfg.add_message_type<reauthentication>("convoy.reauthentication");
  cfg.add_message_type<token_expiry>("convoy.token_expiry");
  cfg.add_message_type<connection_closed>("convoy.connection_closed");
  cfg.add_message_type<will_timer>("convoy.will_timer");
  cfg.add_message_type<expiry_timer>("convoy.expiry_timer");
  cfg.add_message_type<mqtt::publish_packet>("mqtt.publish");
  cfg.add_message_type<mqtt::pub_ack_packet>("mqtt.pub_ack");
  cfg.add_message_type<mqtt::subscribe_packet>("mqtt.subscribe");
  cfg.add_message_type<mqtt::unsubscribe_packet>("mqtt.unsubscribe");
  cfg.add_message_type<mqtt::disconnect_packet>("mqtt.disconnect");
  cfg.add_message_type<mqtt::auth_packet>("mqtt.auth");
}

}  // namespace convoy

namespace convoy::mqtt {

std::vector<property_row> to_rows(const properties& props) {
  std::vector<property_row> rows;
  rows.reserve(props.size());
  for (const auto& p : props) {
    property_row row;
    row.id = static_cast<std::uint8_t>(p.id);
    if (const auto* n = std::get_if<std::uint32_t>(&p.value)) {
      row.number = *n;
    } else if (const auto* s = std::get_if<std::string>(&p.value)) {
      row.text = *s;
    } else {
      const auto& pair = std::get<string_pair>(p.value);
      row.text = pair.name;
      row.text2 = pair.value;
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

properties from_rows(const std::vector<property_row>& rows) {
  properties props;
  for (const auto& row : rows) {
    const property_info* info = find_property_info(row.id);
    if (info == nullptr) continue;  // only our own encoder writes rows
    auto id = static_cast<property_id>(row.id);
    switch (info->type) {
      case property_type::utf8_string:
      case property_type::binary:
        props.append({id, row.text});
        break;
      case property_type::string_pair:
        props.append({id, string_pair{row.text, row.text2}});
        break;
      default:
        props.append({id, row.number});
        break;
    }
  }
  return props;
}

}  // namespace convoy::mqtt
