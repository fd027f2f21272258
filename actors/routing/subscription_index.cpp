#include "actors/routing/subscription_index.hpp"
#include "actors/placement/stable_hash.hpp"

#include <algorithm>
#include <unordered_set>

#include "protocol/topic.hpp"

namespace convoy {

namespace {

// Splits "a/b/c" into its first level and the rest; the rest is nullopt-like
// (has_rest false) at the last level.
struct level_split {
  std::string_view level;
  std::string_view rest;
  bool has_rest;
};

level_split split_first(std::string_view s) {
  auto slash = s.find('/');
  if (slash == std::string_view::npos) return {s, {}, false};
  return {s.substr(0, slash), s.substr(slash + 1), true};
}

template <class Vector>
bool replace_or_add(Vector& v, subscriber_entry&& entry) {
  auto it = std::find_if(v.begin(), v.end(),
                         [&](const subscriber_entry& e) { return e.session == entry.session; });
  if (it != v.end()) {
    *it = std::move(entry);
    return false;
  }
  v.push_back(std::move(entry));
  return true;
}

template <class Vector>
bool remove_session(Vector& v, const caf::actor_addr& session) {
  auto it = std::find_if(v.begin(), v.end(),
                         [&](const subscriber_entry& e) { return e.session.address() == session; });
  if (it == v.end()) return false;
  v.erase(it);
  return true;
}

// The filter a subscription matches with, and its shared group (empty when
// the subscription is not shared).
std::pair<std::string_view, std::string_view> split_share(std::string_view filter) {
  if (auto shared = mqtt::parse_shared_filter(filter)) return {shared->filter, shared->group};
  return {filter, {}};
}

}  // namespace

subscription_index::subscription_index() : root_(std::make_unique<node>()) {}
subscription_index::~subscription_index() = default;

subscription_index::node* subscription_index::find_or_create(std::string_view filter) {
  node* n = root_.get();
  while (true) {
    auto [level, rest, has_rest] = split_first(filter);
    auto it = n->children.find(level);
    if (it == n->children.end())
      it = n->children.emplace(std::string{level}, std::make_unique<node>()).first;
    n = it->second.get();
    if (!has_rest) return n;
    filter = rest;
  }
}

const subscription_index::node* subscription_index::find(std::string_view filter) const {
  const node* n = root_.get();
  while (true) {
    auto [level, rest, has_rest] = split_first(filter);
    auto it = n->children.find(level);
    if (it == n->children.end()) return nullptr;
    n = it->second.get();
    if (!has_rest) return n;
    filter = rest;
  }
}

bool subscription_index::holds(std::string_view filter) const {
  auto [plain, group] = split_share(filter);
  const node* n = find(plain);
  if (!n) return false;
  if (group.empty()) return !n->subscribers.empty();
  auto g = n->groups.find(group);
  return g != n->groups.end() && !g->second.members.empty();
}

std::vector<std::string> subscription_index::filters() const {
  std::unordered_set<std::string_view> seen;
  std::vector<std::string> out;
  for (const auto& [session, filters] : filters_of_)
    for (const auto& f : filters)
      if (seen.insert(f).second) out.push_back(f);
  return out;
}

bool subscription_index::insert(std::string_view filter, subscriber_entry entry) {
  auto [plain, group] = split_share(filter);
  node* n = find_or_create(plain);
  caf::actor_addr session = entry.session.address();
  bool added = false;
  if (group.empty()) {
    added = replace_or_add(n->subscribers, std::move(entry));
  } else {
    auto [g, fresh] = n->groups.try_emplace(std::string{group});
    if (fresh) g->second.filter = filter;
    added = replace_or_add(g->second.members, std::move(entry));
  }
  if (added) {
    filters_of_[session].emplace_back(filter);
    ++count_;
  }
  return added;
}

bool subscription_index::erase_in(node& n, std::string_view filter, std::string_view group,
                                  const caf::actor_addr& session) {
  auto [level, rest, has_rest] = split_first(filter);
  auto it = n.children.find(level);
  if (it == n.children.end()) return false;
  node& child = *it->second;
  bool found = false;
  if (has_rest) {
    found = erase_in(child, rest, group, session);
  } else if (group.empty()) {
    found = remove_session(child.subscribers, session);
  } else if (auto g = child.groups.find(group); g != child.groups.end()) {
    found = remove_session(g->second.members, session);
    if (g->second.members.empty()) child.groups.erase(g);
  }
  if (child.empty()) n.children.erase(it);
  return found;
}

bool subscription_index::erase(std::string_view filter, const caf::actor_addr& session) {
  auto [plain, group] = split_share(filter);
  if (!erase_in(*root_, plain, group, session)) return false;
  --count_;
  if (auto it = filters_of_.find(session); it != filters_of_.end()) {
    std::erase(it->second, filter);
    if (it->second.empty()) filters_of_.erase(it);
  }
  return true;
}

std::vector<std::string> subscription_index::erase_all(const caf::actor_addr& session) {
  auto it = filters_of_.find(session);
  if (it == filters_of_.end()) return {};
  std::vector<std::string> filters = std::move(it->second);
  filters_of_.erase(it);
  std::size_t removed = 0;
  for (const auto& filter : filters) {
    auto [plain, group] = split_share(filter);
    if (erase_in(*root_, plain, group, session)) ++removed;
  }
  count_ -= removed;
  return filters;
}

bool is_keyed_group(std::string_view group) {
  return group.starts_with(keyed_group_prefix);
}

std::string_view second_level(std::string_view topic) {
  auto first = topic.find('/');
  if (first == std::string_view::npos) return {};
  topic.remove_prefix(first + 1);
  return topic.substr(0, topic.find('/'));
}

void subscription_index::match(std::string_view topic,
                               const std::function<void(const subscriber_entry&)>& on_match,
                               const shared_match& on_shared) {
  const bool dollar = !topic.empty() && topic.front() == '$';
  std::optional<std::uint64_t> key_hash;  // of the second level, for keyed groups
  auto visit = [&](node& n) {
    for (const auto& e : n.subscribers)
      on_match(e);
    for (auto& [name, group] : n.groups) {
      if (group.members.empty()) continue;
      if (is_keyed_group(name)) {
        if (!key_hash) key_hash = placement::stable_hash(second_level(topic));
        on_shared(group.members[placement::slice_of(
                      *key_hash, static_cast<std::uint32_t>(group.members.size()))],
                  group.filter);
        continue;
      }
      group.next %= group.members.size();
      on_shared(group.members[group.next++], group.filter);
    }
  };
  // Iterative walk with an explicit stack of (node, remaining topic, done).
  struct frame {
    node* n;
    std::string_view rest;
    bool at_end;  // every level of the topic has been consumed
    bool first;   // at the root: wildcards must not match $-topics
  };
  std::vector<frame> stack;
  stack.push_back({root_.get(), topic, false, true});
  while (!stack.empty()) {
    frame f = stack.back();
    stack.pop_back();
    if (f.at_end) {
      visit(*f.n);
      // "a/#" matches "a" too.
      if (auto hash = f.n->children.find("#"); hash != f.n->children.end()) visit(*hash->second);
      continue;
    }
    auto [level, rest, has_rest] = split_first(f.rest);
    if (auto exact = f.n->children.find(level); exact != f.n->children.end())
      stack.push_back({exact->second.get(), rest, !has_rest, false});
    if (f.first && dollar) continue;
    if (auto plus = f.n->children.find("+"); plus != f.n->children.end())
      stack.push_back({plus->second.get(), rest, !has_rest, false});
    if (auto hash = f.n->children.find("#"); hash != f.n->children.end()) visit(*hash->second);
  }
}

}  // namespace convoy
