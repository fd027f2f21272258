#include "actors/storage_gate.hpp"

#include <caf/send.hpp>

#include "actors/metrics.hpp"

namespace convoy {

caf::behavior storage_gate(caf::stateful_actor<storage_gate_state>* self, store_ptr store) {
  self->state.store = std::move(store);
  return {
      [self](sync_atom) -> caf::result<bool> {
        auto& st = self->state;
        auto token = ++st.next_token;
        auto me = caf::actor_cast<caf::actor>(self);
        bool accepted = st.store->sync(
            [me, token](bool stored) { caf::anon_send(me, sync_atom::value, token, stored); });
        if (!accepted) {
          metrics::add(counter::refused_storage_busy);
          return false;
        }
        auto promise = self->make_response_promise();
        st.waiting.emplace(token, promise);
        return promise;
      },
      [self](sync_atom, std::uint64_t token, bool stored) {
        auto& st = self->state;
        auto it = st.waiting.find(token);
        if (it == st.waiting.end()) return;
        it->second.deliver(stored);
        st.waiting.erase(it);
      },
  };
}

}  // namespace convoy
