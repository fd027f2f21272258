// The convoy executable: `convoy node` runs a node, `convoy ctl` operates
// one, `convoy sim` drives a simulated fleet, `convoy api-key` makes a key.

#include <cstdlib>
#include <iostream>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "config/loader.hpp"
#include "examples/sim/options.hpp"
#include "examples/sim/sim.hpp"
#include "runtime/auth/api_keys.hpp"
#include "runtime/ctl/ctl.hpp"
#include "runtime/node/logging.hpp"
#include "runtime/node/node.hpp"

extern char** environ;

namespace {

std::vector<std::pair<std::string, std::string>> process_environment() {
  std::vector<std::pair<std::string, std::string>> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string entry{*e};
    auto eq = entry.find('=');
    if (eq == std::string::npos) continue;
    env.emplace_back(entry.substr(0, eq), entry.substr(eq + 1));
  }
  return env;
}

int run_node(const std::string& config_file, const std::vector<std::string>& overrides,
             bool print_config) {
  convoy::config::config_sources sources;
  if (!config_file.empty())
    sources.file = config_file;
  else if (const char* env_file = std::getenv("CONVOY_CONFIG"))
    sources.file = env_file;
  sources.overrides = overrides;
  sources.environment = process_environment();
  auto loaded = convoy::config::load_config(sources);
  if (auto* errors = std::get_if<std::vector<convoy::config::config_error>>(&loaded)) {
    for (const auto& e : *errors)
      std::cerr << "convoy: config error: " << e.to_string() << "\n";
    return 2;
  }
  auto cfg = std::get<convoy::config::node_config>(std::move(loaded));
  if (print_config) {
    std::cout << convoy::config::to_toml(cfg);
    return 0;
  }
  convoy::runtime::set_log_level(cfg.log.level);
  try {
    convoy::runtime::node node{cfg};
    node.start();
    return node.run_until_signal();
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Convoy: connected-vehicle messaging runtime"};
  app.require_subcommand(1);

  auto* node_cmd = app.add_subcommand("node", "Run a Convoy node");
  std::string config_file;
  std::vector<std::string> overrides;
  bool print_config = false;
  bool help_config = false;
  node_cmd->add_option("-c,--config", config_file, "TOML configuration file (or $CONVOY_CONFIG)");
  node_cmd->add_option("-s,--set", overrides, "Override a key: --set mqtt.port=1884 (repeatable)");
  node_cmd->add_flag("--print-config", print_config, "Print the effective configuration and exit");
  node_cmd->add_flag("--help-config", help_config, "List every configuration key and exit");

  auto* sim_cmd = app.add_subcommand("sim", "Simulate a fleet of vehicles against an MQTT broker");
  convoy::sim::options sim_options;
  convoy::sim::add_options(*sim_cmd, sim_options);

  auto* ctl_cmd = app.add_subcommand("ctl", "Operate a node through its management API");
  convoy::ctl::options ctl_options;
  auto run_ctl = convoy::ctl::add_commands(*ctl_cmd, ctl_options);

  auto* key_cmd = app.add_subcommand(
      "api-key", "Make a management API key: prints the key, and the line for http.api_keys_file");
  std::string key_name;
  key_cmd->add_option("name", key_name, "Who the key is for (letters, digits, - _ .)")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // ctl documents its exit codes: a wrong command line is 2.
    if (e.get_exit_code() != 0 && ctl_cmd->parsed()) return convoy::ctl::parse_failed(*ctl_cmd, e);
    return app.exit(e);
  }

  if (key_cmd->parsed()) {
    if (key_name.empty() ||
        key_name.find_first_not_of(
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") !=
            std::string::npos) {
      std::cerr << "convoy: api-key: the name may hold letters, digits, '-', '_' and '.' only\n";
      return 2;
    }
    auto made = convoy::runtime::api_keys::generate(key_name);
    std::cout << "key:  " << made.key << "\nline: " << made.line
              << "\nAdd the line to http.api_keys_file; the key is shown only now.\n";
    return 0;
  }

  if (node_cmd->parsed()) {
    if (help_config) {
      std::cout << convoy::config::describe_keys();
      return 0;
    }
    return run_node(config_file, overrides, print_config);
  }
  if (sim_cmd->parsed()) return convoy::sim::run(sim_options);
  if (ctl_cmd->parsed()) return run_ctl();
  return 0;
}
