#pragma once

// The interface every area of `convoy ctl` registers its subcommands through
// (ctl_node.cpp, ctl_sessions.cpp, ... one file per area of the management
// API), and what they share: the session with the node and the printing.
// Private to runtime/ctl.

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/ctl/api_client.hpp"
#include "runtime/ctl/ctl.hpp"

namespace CLI {
class App;
}

namespace convoy::ctl {

using json = nlohmann::json;

// The node said no: its status and message are the user's answer (exit 1).
struct refused {
  unsigned status;
  std::string message;
};

// A remote command that was waited for ended in another state than
// succeeded, or had not ended when the wait gave up (exit 3).
struct not_succeeded {
  std::string status;
};

// One node's API as JSON.
class session {
 public:
  explicit session(const options& o);

  // The JSON answer of a 2xx (null for 204); throws refused otherwise.
  json call(const std::string& method, const std::string& target, const json& body = nullptr);

  // Every page of a listing when `all`, else the first.
  json list(const std::string& path, std::vector<std::pair<std::string, std::string>> query,
            bool all);

  bool json_output() const { return opts_.json; }
  double timeout_s() const { return opts_.timeout_s; }

 private:
  const options& opts_;
  api_client client_;
};

using fields = std::vector<std::pair<std::string, std::string>>;

// Percent-encoding of one path segment or query value.
std::string encode(std::string_view s);
// A JSON value as a table cell: "-" for null or empty, yes/no for booleans.
std::string text(const json& v);
// `key` of `object` as a cell; *At keys as UTC times, `at` to the millisecond.
std::string cell(const json& object, const std::string& key);
// label: value lines, the keys `object` has.
void print_fields(const json& object, const fields& labelled);
// A table of `data`, one column per (header, key).
void print_rows(const json& data, const fields& columns);
// `j` as JSON with --json, else through `show`.
void output(session& s, const json& j, const std::function<void(const json&)>& show);

// Paging options of a listing.
struct listing {
  std::string prefix, identity;
  std::uint32_t limit = 100;
  bool all = false;
};

// The subcommands of all areas and what each runs.
class command_set {
 public:
  using run_fn = std::function<void(session&)>;
  void add(CLI::App* app, run_fn run) { commands_.push_back({app, std::move(run)}); }
  // The run of the parsed subcommand, or null.
  const run_fn* parsed() const;

 private:
  struct command {
    CLI::App* app;
    run_fn run;
  };
  std::vector<command> commands_;
};

// One per area, each in its ctl_<area>.cpp.
void add_node_commands(CLI::App& ctl, command_set& set);     // node, stats
void add_session_commands(CLI::App& ctl, command_set& set);  // clients, sessions, kick, discard
void add_message_commands(CLI::App& ctl, command_set& set);  // publish, retained
void add_vehicle_commands(CLI::App& ctl, command_set& set);  // vehicles, devices, state
void add_consent_commands(CLI::App& ctl, command_set& set);  // consents
void add_command_commands(CLI::App& ctl, command_set& set);  // commands
void add_rule_commands(CLI::App& ctl, command_set& set);     // rules, archives, webhooks
void add_cluster_commands(CLI::App& ctl, command_set& set);  // cluster

}  // namespace convoy::ctl
