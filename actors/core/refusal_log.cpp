#include "actors/core/refusal_log.hpp"

#include <algorithm>

#include "actors/core/inspection.hpp"

namespace convoy {

std::uint8_t reason_code_for(counter c) {
  switch (c) {
    case counter::refused_publish_not_authorized:
    case counter::refused_subscribe_not_authorized:
    case counter::removed_subscription_not_authorized:
    case counter::dropped_will_not_authorized:
      return 0x87;  // Not authorized
    case counter::dropped_queue_full:
    case counter::refused_queue_full:
    case counter::refused_subscription_quota:
    case counter::dropped_outbound_backlog:
      return 0x97;  // Quota exceeded
    case counter::dropped_too_large_for_client:
      return 0x95;  // Packet too large
    case counter::refused_topic_levels:
      return 0x90;  // Topic Name invalid
    default:
      return 0;  // expired and the like: no reason code reaches the client
  }
}

caf::behavior refusal_log(caf::stateful_actor<refusal_log_state>* self,
                          std::size_t refusals_per_client, std::size_t max_clients) {
  self->state.refusals_per_client = std::max<std::size_t>(refusals_per_client, 1);
  self->state.max_clients = std::max<std::size_t>(max_clients, 1);
  return {
      [self](mailbox_probe) { return static_cast<std::uint64_t>(self->mailbox().size()); },
      [self](refusal_event& e) {
        auto& st = self->state;
        auto it = st.clients.find(e.client_id);
        if (it == st.clients.end()) {
          if (st.clients.size() >= st.max_clients) {
            st.clients.erase(st.by_age.back());
            st.by_age.pop_back();
          }
          st.by_age.push_front(e.client_id);
          it = st.clients.emplace(e.client_id, refusal_log_state::ring{}).first;
          it->second.age = st.by_age.begin();
        } else {
          st.by_age.splice(st.by_age.begin(), st.by_age, it->second.age);
        }
        auto& ring = it->second;
        if (ring.records.size() < st.refusals_per_client) {
          ring.records.push_back(std::move(e.record));
        } else {
          ring.records[ring.next] = std::move(e.record);
          ring.next = (ring.next + 1) % st.refusals_per_client;
        }
      },
      [self](const refusals_query& q) {
        refusals_answer a;
        auto it = self->state.clients.find(q.client_id);
        if (it == self->state.clients.end()) return a;
        const auto& ring = it->second;
        for (std::size_t i = 0; i < ring.records.size(); ++i)
          a.refusals.push_back(ring.records[(ring.next + i) % ring.records.size()]);
        return a;
      },
  };
}

}  // namespace convoy
