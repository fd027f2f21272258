#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>

#include "protocol/packets.hpp"

namespace convoy {

// Shared groups named convoy-by-vin... pick their member by the topic's
// second level (the VIN of vehicles/{vin}/...) instead of round-robin: the
// messages of one vehicle always reach the same member, in order. With
// members subscribed in the order of their index, the member is the VIN's
// slice (actors/placement), which the node's per-VIN actors (state and
// command shards) rely on.
inline constexpr std::string_view keyed_group_prefix = "convoy-by-vin";
bool is_keyed_group(std::string_view group);
std::string_view second_level(std::string_view topic);

struct subscriber_entry {
  caf::actor session;
  std::string client_id;
  mqtt::subscription_options options;
  std::uint32_t subscription_id = 0;
};

// Subscriptions of one topic shard as a trie over topic levels. Matching walks
// only the branches a topic can reach, so its cost grows with the topic's
// depth and the wildcards on its path, not with the number of subscriptions.
class subscription_index {
 public:
  subscription_index();
  ~subscription_index();
  subscription_index(const subscription_index&) = delete;
  subscription_index& operator=(const subscription_index&) = delete;

  // Adds or replaces the subscription of entry.session to filter (which may be
  // a $share filter). True if it is new.
  bool insert(std::string_view filter, subscriber_entry entry);

  // True if the session had a subscription to filter.
  bool erase(std::string_view filter, const caf::actor_addr& session);

  // Removes every subscription of the session and returns their filters.
  // Takes an address so that a session already gone (a down message) can be
  // removed.
  std::vector<std::string> erase_all(const caf::actor_addr& session);

  // True while some session holds a subscription to exactly this filter (for
  // a $share filter: while its group has a member).
  bool holds(std::string_view filter) const;

  // Every filter some session holds, once each.
  std::vector<std::string> filters() const;

  bool has_subscriber(const caf::actor_addr& session) const {
    return filters_of_.count(session) > 0;
  }

  // Calls on_match for every non-shared subscription matching topic, and
  // on_shared once per shared group with one member picked round-robin and
  // the group's filter ($share/{group}/... as subscribed).
  using shared_match = std::function<void(const subscriber_entry&, std::string_view)>;
  void match(std::string_view topic, const std::function<void(const subscriber_entry&)>& on_match,
             const shared_match& on_shared);

  std::size_t size() const { return count_; }

 private:
  struct shared_group {
    std::string filter;  // $share/{group}/{filter}, the group's identity across nodes
    std::vector<subscriber_entry> members;
    std::size_t next = 0;
  };
  // Lets the trie look up a level by string_view without allocating.
  struct level_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct node {
    std::unordered_map<std::string, std::unique_ptr<node>, level_hash, std::equal_to<>> children;
    std::vector<subscriber_entry> subscribers;
    std::map<std::string, shared_group, std::less<>> groups;
    bool empty() const { return children.empty() && subscribers.empty() && groups.empty(); }
  };

  node* find_or_create(std::string_view filter);
  const node* find(std::string_view filter) const;
  bool erase_in(node& n, std::string_view filter, std::string_view group,
                const caf::actor_addr& session);

  std::unique_ptr<node> root_;
  // The filters each session holds here, so erase_all need not walk the trie.
  std::unordered_map<caf::actor_addr, std::vector<std::string>> filters_of_;
  std::size_t count_ = 0;
};

}  // namespace convoy
