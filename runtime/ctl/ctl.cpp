// `convoy ctl`: its options, and running the subcommand parsed; the
// subcommands are in ctl_<area>.cpp, one file per area of the management API.

#include "runtime/ctl/ctl.hpp"

#include <iostream>
#include <memory>
#include <stdexcept>

#include <CLI/CLI.hpp>

#include "runtime/ctl/api_client.hpp"
#include "runtime/ctl/area.hpp"

namespace convoy::ctl {

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

  auto commands = std::make_shared<command_set>();
  add_node_commands(ctl, *commands);
  add_session_commands(ctl, *commands);
  add_message_commands(ctl, *commands);
  add_vehicle_commands(ctl, *commands);
  add_consent_commands(ctl, *commands);
  add_command_commands(ctl, *commands);
  add_rule_commands(ctl, *commands);

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

}  // namespace convoy::ctl
