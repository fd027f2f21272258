#include "cluster/cluster_view.hpp"

namespace convoy::cluster {

void register_cluster_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<member_record>("convoy.member_record");
  cfg.add_message_type<std::vector<member_record>>("convoy.member_records");
  cfg.add_message_type<slice_row>("convoy.slice_row");
  cfg.add_message_type<std::vector<slice_row>>("convoy.slice_rows");
  cfg.add_message_type<cluster_view>("convoy.cluster_view");
  cfg.add_message_type<peer_link>("convoy.peer_link");
  cfg.add_message_type<std::vector<peer_link>>("convoy.peer_links");
  cfg.add_message_type<cluster_status>("convoy.cluster_status");
  cfg.add_message_type<cluster_status_request>("convoy.cluster_status_request");
  cfg.add_message_type<redial>("convoy.redial");
  cfg.add_message_type<forget_departed>("convoy.forget_departed");
}

}  // namespace convoy::cluster
