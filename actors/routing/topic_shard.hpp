#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/core/durable_store.hpp"
#include "actors/core/messages.hpp"
#include "actors/routing/peer_routes.hpp"
#include "actors/routing/subscription_index.hpp"
#include "actors/vehicle/consent_catalog.hpp"

namespace convoy {

// One slice of the topic space: the subscriptions that can match topics of
// the slice, and the slice's retained messages. Which slice a topic belongs
// to is decided by placement::topic_placement.
struct topic_shard_state {
  std::uint32_t index = 0;  // position in the node's shard list, for logs and metrics
  subscription_index subscriptions;
  std::map<std::string, message_ref, std::less<>> retained;

  // What the shard knows of a subscriber beyond its subscriptions; only
  // sessions with a flag set have an entry.
  struct subscriber_flags {
    bool persistent = false;        // QoS 1/2 messages for it are stored before the PUBACK
    bool refusing = false;          // its queue is full: QoS 1/2 messages for it are refused
    std::uint32_t incarnation = 0;  // of the session, for its stored queue entries
  };
  std::unordered_map<caf::actor_addr, subscriber_flags> flags;

  // Services whose telemetry passes a consent check (their identity, the
  // consent subject), and what is checked: topics a purpose covers go to
  // the VIN's consent shard instead of to the session.
  std::unordered_map<caf::actor_addr, std::string> gated;
  std::unique_ptr<consent_catalog> consent_purposes;
  std::vector<caf::actor> consent_shards;

  // Null when the node keeps nothing on disk. Routes of retained messages
  // and of QoS 1/2 messages to persistent sessions are answered once the
  // message is durable.
  store_ptr store;
  // A route that answers later: once its message is stored and, in a
  // cluster, once every peer shard it went to at QoS 1/2 has answered.
  struct route_join {
    caf::response_promise promise;
    route_outcome outcome;
    std::uint32_t pending = 1;  // the route itself, settled when it has gone out
    std::optional<caf::error> failure;
  };
  std::unordered_map<std::uint64_t, std::shared_ptr<route_join>> awaiting_store;
  std::uint64_t next_store_token = 0;

  // In a cluster: the same slice's shard on every other member (see
  // actors/routing/peer_routes.hpp). A peer's window bounds the routes on
  // their way to it, since CAF's link to a node buffers without bound.
  struct peer {
    std::string node;
    caf::actor shard;
    std::uint32_t in_flight = 0;  // routes sent, neither acknowledged nor answered yet
    std::uint64_t in_flight_bytes = 0;
    std::vector<peer_route> outbox;  // QoS 0 routes of this mailbox run
  };
  std::unordered_map<caf::actor_addr, peer> peers;
  std::uint32_t peer_window_messages = 1000;
  std::uint64_t peer_window_bytes = 1'048'576;
  // The filters the sessions of each peer's node hold; an entry's session
  // is the peer's shard.
  subscription_index peer_routes;
  // A subscription answered later: once every peer has taken its filter
  // (new on this node), and once the slice's home has sent the retained
  // messages it must receive.
  struct subscribe_wait {
    caf::response_promise promise;
    retained_batch batch;
    std::uint32_t pending = 1;  // the subscription itself, settled once handled
  };
  struct announcement {
    std::uint32_t pending = 0;
    std::vector<std::shared_ptr<subscribe_wait>> waiters;
  };
  std::unordered_map<std::string, announcement> announcing;

  // Where the slice's retained messages live (see slice_home): here on a
  // single node or while this node holds the slice's claim, here but still
  // being taken over from the previous home, on the member that holds it,
  // or nowhere this node can reach between holders.
  enum class home_phase : std::uint8_t { here, receiving, there, unreachable };
  home_phase home = home_phase::here;
  caf::actor home_shard;  // while there
  std::int64_t home_epoch = 0;
  // Retained writes waiting for a reachable home, oldest first; bounded in
  // number and in time (peer_answer_timeout), then refused.
  struct waiting_put {
    message_ref msg;
    std::shared_ptr<route_join> join;
    epoch_ms since = 0;
  };
  std::deque<waiting_put> waiting_puts;
  bool sweep_scheduled = false;
  // While receiving: the topics written meanwhile (newer than what the
  // previous home sends), and the reads that wait for the hand-over's end.
  std::unordered_set<std::string> written_while_receiving;
  std::vector<std::function<void()>> after_receiving;
  std::uint64_t handover_generation = 0;  // a newer home ends an older hand-over
  // The slice's retained messages were handed over to a new home while this
  // node did not yet know it had lost the slice: they go once it does.
  bool handed_over = false;

  // Deliveries gathered during the current run of the mailbox, per session,
  // sent as one delivery_batch each when the run ends (see topic_shard.cpp).
  struct outgoing {
    caf::actor session;
    std::vector<delivery> deliveries;
  };
  std::vector<outgoing> outbox;
  std::unordered_map<caf::abstract_actor*, std::size_t> outbox_slot;
  bool flush_scheduled = false;

  static inline const char* name = "topic_shard";
};

// `index` is the shard's place in the topic placement. (It also spares CAF
// 0.17 an argument-less function actor, which it spawns through a null
// shared_ptr.) `store` keeps retained messages across restarts, or is null.
caf::behavior topic_shard(caf::stateful_actor<topic_shard_state>* self, std::uint32_t index,
                          store_ptr store);

// One delivery a route produces. client_id points into the subscription
// index: valid until the index changes.
struct planned_delivery {
  caf::actor session;
  delivery d;
  const std::string* client_id = nullptr;
  std::string_view shared_filter;  // for a shared subscription's member: the group's filter
};

// The deliveries a route produces, one per subscriber session (overlapping
// subscriptions of one session merge into one delivery with the highest QoS
// and every subscription identifier) plus one per shared group, or, with
// `only_shared`, one per shared group listed there. Exposed for tests; the
// shard actor sends them.
std::vector<planned_delivery> plan_deliveries(
    subscription_index& index, const message_ref& msg,
    const std::vector<std::string>* only_shared = nullptr);

}  // namespace convoy
