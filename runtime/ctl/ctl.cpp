// `convoy ctl`: its options, its exit codes, and running the subcommand
// parsed; the subcommands are in ctl_<area>.cpp, one file per area of the
// management API.

#include "runtime/ctl/ctl.hpp"

#include <iostream>
#include <memory>
#include <stdexcept>

#include <CLI/CLI.hpp>

#include "runtime/ctl/api_client.hpp"
#include "runtime/ctl/area.hpp"

namespace convoy::ctl {

namespace {

constexpr const char* exit_codes =
    "Exit codes:\n"
    "  0  done\n"
    "  1  the node refused the request (its HTTP status and message are printed)\n"
    "  2  the node could not be reached or its answer not read, or the command line is\n"
    "     wrong (unknown subcommand or option, missing or bad argument)\n"
    "  3  commands send/get --wait: the command ended in another state than succeeded,\n"
    "     or had not ended when the wait gave up (its state is printed)\n";

// The subcommands `app` offers, comma-separated.
std::string subcommand_names(const CLI::App& app) {
  std::string names;
  for (const auto* sub : app.get_subcommands({}))
    names += (names.empty() ? "" : ", ") + sub->get_name();
  return names;
}

}  // namespace

std::function<int()> add_commands(CLI::App& ctl, options& opts) {
  ctl.add_option("--url", opts.url, "The node's HTTP address (or $CONVOY_URL)")
      ->envname("CONVOY_URL")
      ->capture_default_str()
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  ctl.add_option("--api-key", opts.api_key, "API key (or $CONVOY_API_KEY)")
      ->envname("CONVOY_API_KEY");
  ctl.add_option("--token", opts.token, "Bearer JWT with the operator role (or $CONVOY_API_TOKEN)")
      ->envname("CONVOY_API_TOKEN");
  ctl.add_flag("--json", opts.json, "Print the API's JSON instead of tables");
  ctl.add_option("--timeout", opts.timeout_s, "Seconds to wait for the node")
      ->capture_default_str();
  ctl.require_subcommand(1);
  ctl.footer(exit_codes);

  auto commands = std::make_shared<command_set>();
  add_node_commands(ctl, *commands);
  add_session_commands(ctl, *commands);
  add_message_commands(ctl, *commands);
  add_vehicle_commands(ctl, *commands);
  add_consent_commands(ctl, *commands);
  add_command_commands(ctl, *commands);
  add_rule_commands(ctl, *commands);
  add_cluster_commands(ctl, *commands);

  return [commands, &opts]() -> int {
    const auto* run = commands->parsed();
    if (!run) return 2;
    try {
      session s(opts);
      (*run)(s);
      return 0;
    } catch (const refused& r) {
      std::cerr << "convoy ctl: " << r.status << ": " << r.message << "\n";
      return 1;
    } catch (const not_succeeded& n) {
      std::cerr << "convoy ctl: the command did not succeed: " << n.status << "\n";
      return 3;
    } catch (const connection_error& e) {
      std::cerr << "convoy ctl: " << e.what() << "\n";
      return 2;
    } catch (const std::invalid_argument& e) {
      std::cerr << "convoy ctl: " << e.what() << "\n";
      return 2;
    } catch (const json::exception& e) {
      std::cerr << "convoy ctl: the node's answer is not the JSON expected: " << e.what() << "\n";
      return 2;
    }
  };
}

int parse_failed(const CLI::App& ctl, const CLI::ParseError& e) {
  // The deepest subcommand the words reached: a word it did not take, where
  // a subcommand belongs, is a mistyped subcommand.
  const CLI::App* at = &ctl;
  std::string where;
  for (bool deeper = true; deeper;) {
    deeper = false;
    for (const auto* sub : at->get_subcommands({}))
      if (sub->parsed()) {
        at = sub;
        where += " " + sub->get_name();
        deeper = true;
        break;
      }
  }
  const bool has_subcommands = !at->get_subcommands({}).empty();
  const auto left = at->remaining();
  if (has_subcommands && !left.empty() && !left.front().starts_with("-")) {
    std::cerr << "convoy ctl" << where << ": unknown subcommand '" << left.front()
              << "'; one of: " << subcommand_names(*at) << "\n";
  } else if (has_subcommands && at->get_subcommands().empty()) {
    std::cerr << "convoy ctl" << where
              << ": a subcommand is required; one of: " << subcommand_names(*at) << "\n";
  } else {
    std::cerr << "convoy ctl" << where << ": " << e.what() << "\nRun with --help for more.\n";
  }
  return 2;
}

}  // namespace convoy::ctl
