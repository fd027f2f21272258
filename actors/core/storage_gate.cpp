#include "actors/core/storage_gate.hpp"

#include <atomic>

#include <caf/send.hpp>

#include "actors/core/inspection.hpp"

namespace convoy {

std::uint64_t next_write_ticket() {
  static std::atomic<std::uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

durable_store::completion gate_completion(const caf::actor& gate, std::uint64_t ticket) {
  return [gate, ticket](bool stored) { caf::anon_send(gate, outcome_atom::value, ticket, stored); };
}

caf::behavior storage_gate(caf::stateful_actor<storage_gate_state>* self, store_ptr) {
  // Whoever still waits when the node stops learns "not known to be
  // stored" instead of waiting forever (and keeping the node from ending).
  self->set_exit_handler([self](const caf::exit_msg& msg) {
    for (auto& [ticket, promise] : self->state.waiting)
      promise.deliver(false);
    self->state.waiting.clear();
    self->quit(msg.reason);
  });
  return {
      [self](mailbox_probe) { return static_cast<std::uint64_t>(self->mailbox().size()); },
      [self](await_atom, std::uint64_t ticket) -> caf::result<bool> {
        auto& st = self->state;
        if (auto it = st.arrived.find(ticket); it != st.arrived.end()) {
          bool stored = it->second;
          st.arrived.erase(it);
          return stored;
        }
        auto promise = self->make_response_promise();
        st.waiting.emplace(ticket, promise);
        return promise;
      },
      [self](outcome_atom, std::uint64_t ticket, bool stored) {
        auto& st = self->state;
        auto it = st.waiting.find(ticket);
        if (it == st.waiting.end()) {
          st.arrived.emplace(ticket, stored);
          return;
        }
        it->second.deliver(stored);
        st.waiting.erase(it);
      },
  };
}

}  // namespace convoy
