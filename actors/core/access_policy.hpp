#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "actors/core/principal.hpp"

namespace convoy {

// A topic filter, client id or value with placeholders, parsed once:
// {client_id}, {identity} (also {username}), {vin} and {region}, each
// standing for the connected client's value. A value that is empty or holds
// '/', '+', '#' or NUL makes the template match nothing: "vehicles/{vin}/#"
// must never widen into "vehicles/+/#".
class access_template {
 public:
  // Nullopt-like: ok() false and error() says why ("unknown placeholder").
  explicit access_template(std::string_view text);

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  const std::string& text() const { return text_; }

  // The values placeholders stand for, for one client.
  struct subject {
    std::string_view client_id;
    std::string_view identity;
    std::string_view vin;
    std::string_view region;
  };

  // As a topic filter: whether topic name `topic` matches.
  bool matches_topic(std::string_view topic, const subject& who) const;
  // As a topic filter: whether every topic `filter` matches also matches
  // this one, so a subscription to `filter` receives only permitted topics.
  bool covers_filter(std::string_view filter, const subject& who) const;
  // As a client id pattern, where '*' at the end stands for any suffix.
  bool matches_client_id(std::string_view client_id, const subject& who) const;

 private:
  enum class part_kind : std::uint8_t { text, client_id, identity, vin, region };
  struct part {
    part_kind kind;
    std::string text;
  };
  struct level {
    enum class kind : std::uint8_t { exact, plus, hash } what = kind::exact;
    std::vector<part> parts;
  };
  // Whether `value` equals the level with placeholders filled in.
  static bool level_equals(const level& l, std::string_view value, const subject& who);
  static std::string_view value_of(part_kind k, const subject& who);

  std::string text_;
  std::string error_;
  std::vector<level> levels_;
  bool any_suffix_ = false;  // client ids: a trailing '*'
};

// One role: the client ids its members may use, where they may publish and
// what they may subscribe to.
struct access_role {
  std::string name;
  std::vector<access_template> client_ids;  // empty: any client id
  std::vector<access_template> publish;
  std::vector<access_template> subscribe;
  // The built-in role of a node without auth.acl_file: every topic and
  // filter, $-topics too, except the $CONTROL topics (registry and operator
  // requests), which only a role of an ACL file can be given.
  bool all_but_control = false;
};

// Whether a topic name, or a filter, lies in $CONTROL/... A filter can only
// reach those topics by naming "$CONTROL" as its first level: wildcards
// there do not match $-topics.
bool is_control_topic(std::string_view topic_or_filter);

// Roles and who has which, loaded from auth.acl_file. Immutable: a reload
// makes a new policy and swaps it in.
class access_policy {
 public:
  std::unordered_map<std::string, access_role> roles;
  std::unordered_map<std::string, std::string> user_roles;  // identity -> role
  std::string certificate_role;  // role of clients logged in by certificate
  std::string password_role;     // role of clients logged in by password
  std::string jwt_role;          // role of clients logged in by JSON Web Token
  std::string anonymous_role;    // role of clients without a login; empty: none

  // The role of a client logging in, or empty when it has none.
  std::string role_for(const principal_ptr& who) const;
  const access_role* find(std::string_view role) const;

  static access_template::subject subject_of(const client_principal* who,
                                             std::string_view client_id);
  static bool may_use_client_id(const access_role& role, const access_template::subject& who);
  static bool may_publish(const access_role& role, std::string_view topic,
                          const access_template::subject& who);
  // For "$share/{group}/{filter}" the rules apply to the filter.
  static bool may_subscribe(const access_role& role, std::string_view filter,
                            const access_template::subject& who);
};

using policy_ptr = std::shared_ptr<const access_policy>;

// The policy in force, shared by the edge and every session; null: no
// authorization (everyone may do everything), the developer default.
class access_control {
 public:
  policy_ptr current() const { return policy_.load(std::memory_order_acquire); }
  void install(policy_ptr p) { policy_.store(std::move(p), std::memory_order_release); }

 private:
  std::atomic<policy_ptr> policy_;
};

using access_ptr = std::shared_ptr<access_control>;

}  // namespace convoy
